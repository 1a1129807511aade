import ClientModel
import Crypto
import Foundation
import Store
import Testing

@testable import Authority

/// A person's grants in the domain, on a manual clock: code lifetime and binding, refresh
/// rotation with its leeway, idle and absolute lifetimes, a disabled user, sign-in throttling,
/// and the purge of what expired.
@Suite struct UserGrantTests {
    static let callback = "https://app.example/callback"
    static let verifier = String(repeating: "v", count: 43)
    static var challenge: String { Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8)))) }

    /// A web client (confidential, PKCE required, refresh allowed) with `settings` applied.
    func webClient(_ fixture: Fixture, _ settings: (inout Authsec_V1_Client) -> Void = { _ in }) async throws
        -> ClientWithSecret
    {
        var fields = Authsec_V1_Client()
        fields.name = "Web"
        fields.appType = "web"
        fields.callbacks = [Self.callback]
        fields.allowedScopes = ["openid", "profile"]
        settings(&fields)
        return try await fixture.authority.createClient(fields, by: fixture.root)
    }

    func signedIn(_ fixture: Fixture, username: String = "ada") async throws -> BrowserSession {
        if (try? fixture.authority.user(username)) == nil {
            _ = try await fixture.authority.createUser(
                username: username, email: "", name: "", password: "a long password", by: fixture.root)
        }
        return try await fixture.authority.signIn(username: username, password: "a long password", context: .inProcess)
            .session
    }

    /// A code for `client`, the user of `session` having consented.
    func code(_ fixture: Fixture, _ client: ClientWithSecret, _ session: BrowserSession, pkce: Bool = true) async throws
        -> String
    {
        var parameters: [(name: String, value: String)] = [
            ("response_type", "code"), ("client_id", client.client.clientID), ("redirect_uri", Self.callback),
            ("scope", "openid profile"), ("state", "s"),
        ]
        if pkce { parameters += [("code_challenge", Self.challenge), ("code_challenge_method", "S256")] }
        let authorization = try fixture.authority.checkAuthorization(AuthorizationRequest(parameters: parameters))
        let url = try await fixture.authority.issueCode(authorization, session: session, consented: true)
        let query = URLComponents(string: url)!.queryItems!
        #expect(query.first { $0.name == "iss" }?.value == Fixture.issuer)
        return query.first { $0.name == "code" }!.value!
    }

    func exchange(_ fixture: Fixture, _ client: ClientWithSecret, _ code: String, verifier: String? = verifier)
        async throws -> TokenGrant
    {
        try await fixture.authority.token(
            TokenRequest(
                grantType: "authorization_code", scope: nil, audiences: [],
                credentials: .basic(clientID: client.client.clientID, secret: client.secret!), code: code,
                redirectURI: Self.callback, codeVerifier: verifier)
        ).value()
    }

    func refresh(_ fixture: Fixture, _ client: ClientWithSecret, _ token: String, scope: String? = nil) async throws
        -> TokenGrant
    {
        try await fixture.authority.token(
            TokenRequest(
                grantType: "refresh_token", scope: scope, audiences: [],
                credentials: .basic(clientID: client.client.clientID, secret: client.secret!), refreshToken: token)
        ).value()
    }

    @Test func aCodeLivesSixtySecondsAndIsBoundToItsVerifier() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await webClient(fixture)
        let session = try await signedIn(fixture)

        let late = try await code(fixture, client, session)
        fixture.clock.advance(by: 61)
        await expectError(.invalidGrant) { _ = try await exchange(fixture, client, late) }

        let fresh = try await code(fixture, client, session)
        await expectError(.invalidGrant) { _ = try await exchange(fixture, client, fresh, verifier: nil) }
        let tokens = try await exchange(fixture, client, fresh)
        #expect(tokens.refreshToken != nil)
        #expect(tokens.idToken != nil)
        let claims = try #require(try fixture.authority.verifyAccessToken(tokens.accessToken))
        #expect(claims.sub == session.sub)
        #expect(claims.clientID == client.client.clientID)
    }

    @Test func aVerifierWithoutAChallengeIsADowngrade() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await webClient(fixture) { $0.requireProofKeyForCodeExchange = false }
        let session = try await signedIn(fixture)
        let code = try await code(fixture, client, session, pkce: false)
        await expectError(.invalidGrant) { _ = try await exchange(fixture, client, code) }
        // Refused without being used up: the same code still works without a verifier.
        _ = try await exchange(fixture, client, code, verifier: nil)
    }

    @Test func withinTheLeewayThePreviousTokenWorksOnceMore() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await webClient(fixture) { $0.refreshTokenLeeway = 30 }
        let first = try await exchange(fixture, client, try await code(fixture, client, try await signedIn(fixture)))
        let a = try #require(first.refreshToken)
        let b = try #require(try await refresh(fixture, client, a).refreshToken)
        fixture.clock.advance(by: 10)
        // A lost answer: the client retries with `a` within the leeway and gets a new token.
        let c = try #require(try await refresh(fixture, client, a).refreshToken)
        #expect(c != b)
        // Only once: `a` again is reuse, and the whole family goes.
        await expectError(.invalidGrant) { _ = try await refresh(fixture, client, a) }
        await expectError(.invalidGrant) { _ = try await refresh(fixture, client, c) }
        #expect(try fixture.authority.verifyAccessToken(first.accessToken) == nil)
    }

    @Test func pastTheLeewayReuseRevokesTheFamily() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await webClient(fixture) { $0.refreshTokenLeeway = 30 }
        let first = try await exchange(fixture, client, try await code(fixture, client, try await signedIn(fixture)))
        let a = try #require(first.refreshToken)
        let b = try #require(try await refresh(fixture, client, a).refreshToken)
        fixture.clock.advance(by: 31)
        await expectError(.invalidGrant) { _ = try await refresh(fixture, client, a) }
        await expectError(.invalidGrant) { _ = try await refresh(fixture, client, b) }
    }

    @Test func idleAndAbsoluteLifetimesEndARefreshToken() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await webClient(fixture) {
            $0.refreshTokenLifetime = 600
            $0.refreshTokenIdleLifetime = 120
        }
        let session = try await signedIn(fixture)
        // Idle: unused for more than 120 s.
        let idle = try #require(
            try await exchange(fixture, client, try await code(fixture, client, session)).refreshToken)
        fixture.clock.advance(by: 121)
        await expectError(.invalidGrant) { _ = try await refresh(fixture, client, idle) }

        // Absolute: used every 100 s, it still ends 600 s after the grant began.
        var token = try #require(
            try await exchange(fixture, client, try await code(fixture, client, try await signedIn(fixture)))
                .refreshToken)
        for _ in 0..<5 {
            fixture.clock.advance(by: 100)
            token = try #require(try await refresh(fixture, client, token).refreshToken)
        }
        fixture.clock.advance(by: 100)
        await expectError(.invalidGrant) { _ = try await refresh(fixture, client, token) }
    }

    @Test func aRefreshMayNarrowTheScopeButNeverWidenIt() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await webClient(fixture) { $0.rotateRefreshToken = false }
        let tokens = try await exchange(fixture, client, try await code(fixture, client, try await signedIn(fixture)))
        let token = try #require(tokens.refreshToken)
        #expect(try await refresh(fixture, client, token, scope: "openid").scope == "openid")
        await expectError(.invalidScope) { _ = try await refresh(fixture, client, token, scope: "openid email") }
        // Without rotation the same token keeps working, and none is answered.
        #expect(try await refresh(fixture, client, token).refreshToken == nil)
    }

    @Test func aDisabledUserCannotRefreshOrKeepASession() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await webClient(fixture)
        let signedIn = try await fixture.authority.createUser(
            username: "bob", email: "", name: "", password: "a long password", by: fixture.root)
        let (cookie, session) = try await fixture.authority.signIn(
            username: "bob", password: "a long password", context: .inProcess)
        let token = try #require(
            try await exchange(fixture, client, try await code(fixture, client, session)).refreshToken)
        _ = try await fixture.authority.setUserDisabled(signedIn.sub, disabled: true, by: fixture.root)
        await expectError(.invalidGrant) { _ = try await refresh(fixture, client, token) }
        #expect(try fixture.authority.session(cookie: cookie) == nil)
    }

    @Test func signInsAreThrottledPerUserWithTheSameAnswer() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        _ = try await signedIn(fixture)
        let context = CallContext(door: .http, peer: "192.0.2.1", requestID: 1)
        for _ in 0..<LoginThrottle.perUser.freeFailures + 1 {
            await expectError(.invalidGrant) {
                _ = try await fixture.authority.signIn(username: "ada", password: "wrong password", context: context)
            }
        }
        // Locked: even the right password gets the one answer, from any address.
        let elsewhere = CallContext(door: .http, peer: "192.0.2.2", requestID: 2)
        await expectError(.invalidGrant) {
            _ = try await fixture.authority.signIn(username: "ADA", password: "a long password", context: elsewhere)
        }
        fixture.clock.advance(by: LoginThrottle.perUser.firstLock)
        _ = try await fixture.authority.signIn(username: "ada", password: "a long password", context: elsewhere)
    }

    @Test func expiredCodesGrantsAndSessionsArePurged() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await webClient(fixture) { $0.refreshTokenLifetime = 600 }
        let session = try await signedIn(fixture)
        _ = try await exchange(fixture, client, try await code(fixture, client, session))
        func rows() throws -> [Int] {
            try fixture.store.read { txn in
                [
                    try txn.count(Keyspace.authorizationCodes), try txn.count(Keyspace.grants),
                    try txn.count(Keyspace.refreshTokens), try txn.count(Keyspace.sessions),
                ]
            }
        }
        #expect(try rows() == [1, 1, 1, 1])
        fixture.clock.advance(by: Authority.sessionLifetime + 1)
        #expect(try await fixture.authority.purgeExpired() >= 4)
        #expect(try rows() == [0, 0, 0, 0])
    }

    @Test func anRS256KeyIsMadeAtTheFirstRequestAndRotatedWithTheOthers() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await webClient(fixture) { $0.idTokenSignedResponseAlg = "RS256" }
        #expect(fixture.authority.listKeys().allSatisfy { $0.algorithm == "ES256" })
        func idTokenHeader() async throws -> [String: String] {
            let session = try await signedIn(fixture)
            let idToken = try #require(
                try await exchange(fixture, client, try await code(fixture, client, session)).idToken)
            let header = try #require(Base64URL.decode(idToken.split(separator: ".")[0]))
            return try JSONDecoder().decode([String: String].self, from: Data(header))
        }
        let first = try await idTokenHeader()
        #expect(first["alg"] == "RS256")
        let second = try await idTokenHeader()
        #expect(second["kid"] == first["kid"])  // made once
        #expect(fixture.authority.listKeys().filter { $0.algorithm == "RS256" }.map(\.kid) == [first["kid"]!])

        _ = try await fixture.authority.rotateKey(activateIn: 0)
        let rsa = fixture.authority.listKeys().filter { $0.algorithm == "RS256" }
        #expect(rsa.count == 2)
        #expect(rsa.filter(\.isActive).map(\.kid) != [first["kid"]!])
        #expect(fixture.authority.jwksJSON().components(separatedBy: #""kty":"RSA""#).count == 3)
        #expect(try await idTokenHeader()["kid"] != first["kid"])
        // An ES256 client is untouched: its ID tokens use the EC key.
        let es = try await webClient(fixture)
        let token = try #require(
            try await exchange(fixture, es, try await code(fixture, es, try await signedIn(fixture))).idToken)
        #expect(String(decoding: Base64URL.decode(token.split(separator: ".")[0])!, as: UTF8.self).contains("ES256"))
    }
}
