import Crypto
import Foundation
import JWTKit
import ClientModel
import Store
import Testing

@testable import Authority

struct RFC9068Payload: JWTPayload {
    let iss: IssuerClaim
    let sub: SubjectClaim
    let aud: AudienceClaim
    let exp: ExpirationClaim
    let iat: IssuedAtClaim
    let jti: IDClaim
    let client_id: String
    let scope: String
    func verify(using algorithm: some JWTAlgorithm) async throws { try exp.verifyNotExpired(currentDate: .distantPast) }
}

@Suite struct TokenTests {
    @Test func clientCredentialsTokenIsAnRFC9068JWTThatJWTKitVerifies() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent(scopes: ["ai:access", "ai:generate"])
        let grant = try await fixture.token(client, scope: "ai:access")
        #expect(grant.scope == "ai:access")
        #expect(grant.expiresIn == 3600)
        let keys = JWTKeyCollection()
        try await keys.add(jwksJSON: fixture.authority.jwksJSON())
        let header = try #require(Base64URL.decode(grant.accessToken.split(separator: ".")[0]))
        let headerJSON = try JSONSerialization.jsonObject(with: Data(header)) as? [String: String]
        #expect(headerJSON?["typ"] == "at+jwt")
        #expect(headerJSON?["alg"] == "ES256")
        let payload = try await keys.verify(grant.accessToken, as: RFC9068Payload.self)
        #expect(payload.iss.value == Fixture.issuer)
        #expect(payload.sub.value == client.client.clientID)
        #expect(payload.client_id == client.client.clientID)
        #expect(payload.aud.value == [Fixture.issuer])
        #expect(Int64(payload.exp.value.timeIntervalSince1970) == fixture.clock.now() + 3600)
    }

    @Test func noScopeRequestedGrantsEveryAllowedScope() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent(scopes: ["ai:access", "ai:generate"])
        #expect(try await fixture.token(client).scope == "ai:access ai:generate")
    }

    @Test func scopeAndAudienceAreNeverSilentlyNarrowed() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent(scopes: ["ai:access"], audiences: ["https://api.myapp.com"])
        await expectError(.invalidScope) { _ = try await fixture.token(client, scope: "ai:access admin:clients") }
        await expectError(.invalidTarget) {
            _ = try await fixture.token(client, audiences: ["https://other.example.com"])
        }
        let grant = try await fixture.token(client, audiences: ["https://api.myapp.com"])
        let claims = try #require(try fixture.authority.verifyAccessToken(grant.accessToken))
        #expect(claims.aud == ["https://api.myapp.com"])
    }

    @Test func authenticationFailuresAreAllInvalidClient() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent()
        let id = client.client.clientID
        for credentials in [
            ClientCredentials.basic(clientID: id, secret: "wrong"), .post(clientID: "nobody", secret: client.secret!),
            .basic(clientID: fixture.admin.clientID, secret: client.secret!), .missing, .publicClient(clientID: id),
        ] {
            await expectError(.invalidClient) {
                _ = try await fixture.authority.token(
                    TokenRequest(grantType: "client_credentials", scope: nil, audiences: [], credentials: credentials)
                ).value()
            }
        }
    }

    @Test func grantChecks() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        var settings = Authsec_V1_Client()
        settings.name = "Web"
        settings.appType = "web"
        settings.callbacks = ["https://app.example.com/cb"]
        let web = try await fixture.authority.createClient(settings, by: fixture.root)
        let creds = ClientCredentials.post(clientID: web.client.clientID, secret: web.secret!)
        await expectError(.unauthorizedClient) {
            _ = try await fixture.authority.token(
                TokenRequest(grantType: "client_credentials", scope: nil, audiences: [], credentials: creds)
            ).value()
        }
        await expectError(.unsupportedGrantType) {
            _ = try await fixture.authority.token(
                TokenRequest(grantType: "password", scope: nil, audiences: [], credentials: creds)
            ).value()
        }
        await expectError(.invalidRequest) {
            _ = try await fixture.authority.token(
                TokenRequest(grantType: "", scope: nil, audiences: [], credentials: creds)
            ).value()
        }
    }

    @Test func expiredAndRevokedTokensAreInactive() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent()
        let creds = ClientCredentials.basic(clientID: client.client.clientID, secret: client.secret!)
        let first = try await fixture.token(client)
        #expect(try await fixture.authority.introspect(token: first.accessToken, credentials: creds).value().isActive)
        try await fixture.authority.revoke(token: first.accessToken, tokenTypeHint: "access_token", credentials: creds)
            .value()
        #expect(
            try await fixture.authority.introspect(token: first.accessToken, credentials: creds).value().isActive
                == false)
        // Revoking again, or revoking garbage, succeeds silently (RFC 7009 §2.2).
        try await fixture.authority.revoke(token: first.accessToken, tokenTypeHint: nil, credentials: creds).value()
        try await fixture.authority.revoke(token: "garbage", tokenTypeHint: nil, credentials: creds).value()
        let second = try await fixture.token(client)
        fixture.clock.advance(by: 3601)
        #expect(
            try await fixture.authority.introspect(token: second.accessToken, credentials: creds).value().isActive
                == false)
    }

    @Test func onlyTheOwnerOrAnAdminMayRevoke() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let owner = try await fixture.agent()
        let other = try await fixture.agent()
        let token = try await fixture.token(owner).accessToken
        await expectError(.unauthorizedClient) {
            try await fixture.authority.revoke(
                token: token, tokenTypeHint: nil,
                credentials: .basic(clientID: other.client.clientID, secret: other.secret!)
            ).value()
        }
        let admin = ClientCredentials.basic(clientID: fixture.admin.clientID, secret: fixture.admin.clientSecret)
        try await fixture.authority.revoke(token: token, tokenTypeHint: nil, credentials: admin).value()
        #expect(try fixture.authority.verifyAccessToken(token) == nil)
    }

    @Test func revocationSurvivesARestart() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent()
        let token = try await fixture.token(client).accessToken
        try await fixture.authority.revoke(
            token: token, tokenTypeHint: nil,
            credentials: .basic(clientID: client.client.clientID, secret: client.secret!)
        ).value()
        let restarted = try Authority(
            store: fixture.store, issuer: Fixture.issuer, sealingKey: fixture.sealingKey, clock: fixture.clock)
        #expect(try restarted.verifyAccessToken(token) == nil)
    }

    @Test func tokensOfAnotherIssuerAreInactive() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent()
        let token = try await fixture.token(client).accessToken
        let elsewhere = try Authority(
            store: fixture.store, issuer: "https://other.example.com", sealingKey: fixture.sealingKey,
            clock: fixture.clock)
        #expect(try elsewhere.verifyAccessToken(token) == nil)
    }

    @Test func secretRotationWithAndWithoutOverlap() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent()
        let id = client.client.clientID
        let rotated = try await fixture.authority.rotateClientSecret(id, keepPreviousFor: 3600, by: fixture.root)
        #expect(rotated.previousSecretExpiresAt == fixture.clock.now() + 3600)
        _ = try await fixture.token(client)
        _ = try await fixture.token(rotated)
        fixture.clock.advance(by: 3601)
        await expectError(.invalidClient) { _ = try await fixture.token(client) }
        _ = try await fixture.token(rotated)
        let again = try await fixture.authority.rotateClientSecret(id, keepPreviousFor: 0, by: fixture.root)
        await expectError(.invalidClient) { _ = try await fixture.token(rotated) }
        _ = try await fixture.token(again)
    }

    @Test func keyRotationPublishesFirstAndKeepsOldTokensValid() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent()
        let oldToken = try await fixture.token(client).accessToken
        let active = fixture.authority.listKeys().first { $0.isActive }
        let oldKid = try #require(active).kid
        let keys = try await fixture.authority.rotateKey(activateIn: 600)
        #expect(keys.count == 2)
        let newKid = try #require(keys.first { $0.kid != oldKid }).kid
        #expect(fixture.authority.jwksJSON().contains(newKid))
        #expect(fixture.authority.listKeys().first(where: \.isActive)?.kid == oldKid)
        fixture.clock.advance(by: 601)
        #expect(fixture.authority.listKeys().first(where: \.isActive)?.kid == newKid)
        let newToken = try await fixture.token(client).accessToken
        #expect(newToken.split(separator: ".")[0] != oldToken.split(separator: ".")[0])
        #expect(try fixture.authority.verifyAccessToken(oldToken) != nil)
        #expect(try fixture.authority.verifyAccessToken(newToken) != nil)
        let jwks = fixture.authority.jwksJSON()
        #expect(jwks.contains(oldKid) && jwks.contains(newKid))
        #expect(!jwks.contains(#""d""#))
        // Once every token the old key signed has expired, it leaves the JWKS.
        fixture.clock.advance(by: Client.maxAccessTokenLifetime + 1)
        #expect(!fixture.authority.jwksJSON().contains(oldKid))
    }

    @Test func strictVerificationRefusesForgeries() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent()
        let token = try await fixture.token(client).accessToken
        let parts = token.split(separator: ".").map(String.init)
        func header(_ json: String) -> String { Base64URL.encode(Array(json.utf8)) }
        let first = fixture.authority.listKeys().first
        let kid = try #require(first).kid
        // alg none, no signature.
        let none = header(#"{"alg":"none","typ":"at+jwt","kid":"\#(kid)"}"#) + "." + parts[1] + "."
        #expect(try fixture.authority.verifyAccessToken(none) == nil)
        // Swapped algorithm: HS256 keyed with public material.
        let hsHeader = header(#"{"alg":"HS256","typ":"at+jwt","kid":"\#(kid)"}"#)
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array((hsHeader + "." + parts[1]).utf8),
            using: SymmetricKey(data: Array(fixture.authority.jwksJSON().utf8)))
        #expect(
            try fixture.authority.verifyAccessToken(hsHeader + "." + parts[1] + "." + Base64URL.encode(Array(mac)))
                == nil)
        // Bad signature: flip one byte.
        var signature = try #require(Base64URL.decode(parts[2]))
        signature[5] ^= 0x01
        #expect(
            try fixture.authority.verifyAccessToken(parts[0] + "." + parts[1] + "." + Base64URL.encode(signature))
                == nil)
        // Tampered payload under the original signature.
        let claims = String(decoding: try #require(Base64URL.decode(parts[1])), as: UTF8.self).replacingOccurrences(
            of: "ai:access", with: "admin:keys")
        #expect(
            try fixture.authority.verifyAccessToken(
                parts[0] + "." + Base64URL.encode(Array(claims.utf8)) + "." + parts[2]) == nil)
        // Unknown kid, validly signed by a stranger's key.
        let stranger = P256.Signing.PrivateKey()
        let strangerHeader = header(#"{"alg":"ES256","typ":"at+jwt","kid":"stranger"}"#)
        let strangerSignature = try stranger.signature(for: Array((strangerHeader + "." + parts[1]).utf8))
        #expect(
            try fixture.authority.verifyAccessToken(
                strangerHeader + "." + parts[1] + "." + Base64URL.encode(strangerSignature.rawRepresentation)) == nil)
        // The original still verifies.
        #expect(try fixture.authority.verifyAccessToken(token) != nil)
    }

    @Test func adminAuthorization() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent()
        let plain = try await fixture.token(client).accessToken
        await expectError(.invalidToken) {
            _ = try fixture.authority.authorizeAdmin(token: "", scope: Scopes.adminClients)
        }
        await expectError(.invalidToken) {
            _ = try fixture.authority.authorizeAdmin(token: "nonsense", scope: Scopes.adminClients)
        }
        // Not for the management audience.
        await expectError(.invalidToken) {
            _ = try fixture.authority.authorizeAdmin(token: plain, scope: Scopes.adminClients)
        }
        let admin = try await fixture.authority.token(
            TokenRequest(
                grantType: "client_credentials", scope: "admin:scopes", audiences: [],
                credentials: .basic(clientID: fixture.admin.clientID, secret: fixture.admin.clientSecret))
        ).value()
        let caller = try fixture.authority.authorizeAdmin(token: admin.accessToken, scope: Scopes.adminScopes)
        #expect(caller == AdminCaller(clientID: fixture.admin.clientID, reservedScopes: [Scopes.adminScopes]))
        await expectError(.insufficientScope) {
            _ = try fixture.authority.authorizeAdmin(token: admin.accessToken, scope: Scopes.adminKeys)
        }
    }

    @Test func privateKeyJWTClientAuthentication() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let key = ES256PrivateKey()
        let parameters = try #require(key.parameters)
        let jwks =
            #"{"keys":[{"kty":"EC","crv":"P-256","x":"\#(parameters.x)","y":"\#(parameters.y)","kid":"k1","alg":"ES256","use":"sig"}]}"#
        _ = try await fixture.authority.createScope(name: "ai:access", description: "")
        var settings = Authsec_V1_Client()
        settings.name = "Signed agent"
        settings.tokenEndpointAuthMethod = "private_key_jwt"
        settings.jwks = jwks
        settings.allowedScopes = ["ai:access"]
        let created = try await fixture.authority.createClient(settings, by: fixture.root)
        #expect(created.secret == nil)
        let id = created.client.clientID
        struct Assertion: JWTPayload {
            let iss: IssuerClaim, sub: SubjectClaim, aud: AudienceClaim, exp: ExpirationClaim, jti: IDClaim
            func verify(using algorithm: some JWTAlgorithm) async throws {}
        }
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: key, kid: "k1")
        func assertion(
            aud: String = Fixture.issuer + "/oauth/token", lifetime: Int64 = 120, jti: String = UUID().uuidString
        ) async throws -> String {
            try await signer.sign(
                Assertion(
                    iss: .init(value: id), sub: .init(value: id), aud: .init(value: [aud]),
                    exp: .init(value: Date(timeIntervalSince1970: TimeInterval(fixture.clock.now() + lifetime))),
                    jti: .init(value: jti)),
                kid: "k1")
        }
        func token(_ jwt: String) async throws -> TokenGrant {
            try await fixture.authority.token(
                TokenRequest(
                    grantType: "client_credentials", scope: nil, audiences: [],
                    credentials: .assertion(jwt: jwt, clientID: id))
            ).value()
        }
        let reused = try await assertion(jti: "once")
        #expect(try await token(reused).scope == "ai:access")
        await expectError(.invalidClient) { _ = try await token(reused) }
        await expectError(.invalidClient) {
            _ = try await token(try await assertion(aud: "https://elsewhere.example.com"))
        }
        await expectError(.invalidClient) { _ = try await token(try await assertion(lifetime: 3600)) }
        await expectError(.invalidClient) { _ = try await token(try await assertion(lifetime: -10)) }
        let strangerSigner = JWTKeyCollection()
        await strangerSigner.add(ecdsa: ES256PrivateKey(), kid: "k1")
        let forged = try await strangerSigner.sign(
            Assertion(
                iss: .init(value: id), sub: .init(value: id), aud: .init(value: [Fixture.issuer]),
                exp: .init(value: Date(timeIntervalSince1970: TimeInterval(fixture.clock.now() + 60))),
                jti: .init(value: "forged")),
            kid: "k1")
        await expectError(.invalidClient) { _ = try await token(forged) }
        // Hostile claims, signed with the client's real key, are invalid_client: never a trap
        // (exp outside Int64) nor a storage error (an empty or 10 KB key).
        func hostile(exp: Double, jti: String = UUID().uuidString, sub: String? = nil) async throws -> String {
            try await signer.sign(
                Assertion(
                    iss: .init(value: id), sub: .init(value: sub ?? id), aud: .init(value: [Fixture.issuer]),
                    exp: .init(value: Date(timeIntervalSince1970: exp)), jti: .init(value: jti)),
                kid: "k1")
        }
        let soon = Double(fixture.clock.now() + 60)
        for jwt in [
            try await hostile(exp: 1e300), try await hostile(exp: -1e300), try await hostile(exp: soon, jti: ""),
            try await hostile(exp: soon, jti: String(repeating: "j", count: 10_000)),
            try await hostile(exp: soon, sub: ""),
            try await hostile(exp: soon, sub: String(repeating: "s", count: 10_000)),
        ] {
            await expectError(.invalidClient) { _ = try await token(jwt) }
        }
        // A secret is no way in for this client.
        await expectError(.invalidClient) {
            _ = try await fixture.authority.token(
                TokenRequest(
                    grantType: "client_credentials", scope: nil, audiences: [],
                    credentials: .post(clientID: id, secret: "anything"))
            ).value()
        }
    }

    @Test func credentialParsing() throws {
        let basic = "Basic " + Data("my%3Aid:s%2Fecret".utf8).base64EncodedString()
        #expect(
            try ClientCredentials.parse(
                authorization: basic, clientID: nil, clientSecret: nil, assertionType: nil, assertion: nil)
                == .basic(clientID: "my:id", secret: "s/ecret"))
        #expect(throws: AuthorityError.self) {
            try ClientCredentials.parse(
                authorization: basic, clientID: nil, clientSecret: "x", assertionType: nil, assertion: nil)
        }
        #expect(throws: AuthorityError.self) {
            try ClientCredentials.parse(
                authorization: "Basic !!!", clientID: nil, clientSecret: nil, assertionType: nil, assertion: nil)
        }
        #expect(throws: AuthorityError.self) {
            try ClientCredentials.parse(
                authorization: nil, clientID: "a", clientSecret: nil, assertionType: "wrong", assertion: "x.y.z")
        }
    }
}

@Suite struct MaintenanceTests {
    @Test func purgeRemovesOnlyExpiredRevocations() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent()
        let credentials = ClientCredentials.basic(clientID: client.client.clientID, secret: client.secret!)
        let early = try await fixture.token(client).accessToken
        try await fixture.authority.revoke(token: early, tokenTypeHint: nil, credentials: credentials).value()
        fixture.clock.advance(by: 1800)
        let late = try await fixture.token(client).accessToken
        try await fixture.authority.revoke(token: late, tokenTypeHint: nil, credentials: credentials).value()
        #expect(try await fixture.authority.purgeExpired() == 0)
        fixture.clock.advance(by: 1801)  // the first token has expired, the second has not
        #expect(try await fixture.authority.purgeExpired() == 1)
        #expect(try fixture.store.read { try $0.count(Keyspace.revokedTokens) } == 1)
        #expect(try fixture.authority.verifyAccessToken(late) == nil)
    }

    @Test func cachedAuthenticationEndsWithTheChange() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent()
        _ = try await fixture.token(client)  // now cached
        try await fixture.authority.deleteClient(client.client.clientID, by: fixture.root)
        await expectError(.invalidClient) { _ = try await fixture.token(client) }
        let other = try await fixture.agent()
        _ = try await fixture.token(other)
        var noCredentials = Authsec_V1_Client()
        noCredentials.grantTypes = ["authorization_code"]
        noCredentials.callbacks = ["https://app.example.com/cb"]
        _ = try await fixture.authority.updateClient(other.client.clientID, noCredentials, by: fixture.root)
        await expectError(.unauthorizedClient) { _ = try await fixture.token(other) }
    }
}

@Suite struct EncodingTests {
    @Test(arguments: [[], [0], [0xFF, 0xEE], [1, 2, 3], Array(0...255).map { UInt8($0) }] as [[UInt8]])
    func base64URLRoundTrips(bytes: [UInt8]) {
        let text = Base64URL.encode(bytes)
        #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
        #expect(Base64URL.decode(text) == bytes)
        #expect(
            text
                == Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: ""))
    }

    @Test(arguments: ["a", "ab=", "a+b/", "AB$C", "QR"])  // "QR" has stray low bits
    func base64URLRefusesNonCanonicalInput(text: String) {
        #expect(Base64URL.decode(text) == nil)
    }

    @Test(arguments: [[], [0], [0xFB, 0xFF], [1, 2, 3], Array(0...255).map { UInt8($0) }] as [[UInt8]])
    func standardBase64DecodesPaddedAndUnpadded(bytes: [UInt8]) {
        let padded = Data(bytes).base64EncodedString()
        #expect(Base64URL.decodeStandard(Array(padded.utf8)) == bytes)
        #expect(Base64URL.decodeStandard(Array(padded.replacingOccurrences(of: "=", with: "").utf8)) == bytes)
    }

    @Test(arguments: ["YQ=", "YQ===", "Y=Q=", "-_8=", "YQ==YQ==", "Y"])
    func standardBase64RefusesMalformedInput(text: String) {
        #expect(Base64URL.decodeStandard(Array(text.utf8)) == nil)
    }

    @Test func randomIdentifiersAreDistinct() {
        var seen = Set<String>()
        for _ in 0..<5_000 { seen.insert(Secrets.tokenID()) }  // crosses several 4 KiB refills
        #expect(seen.count == 5_000)
        #expect(seen.allSatisfy { Base64URL.decode($0)?.count == 16 })
    }

    @Test func clientIDsSortByCreationTime() {
        let times: [Int64] = [
            1_700_000_000_000, 1_700_000_000_001, 1_764_000_000_063, 1_764_000_000_064, 4_000_000_000_000,
        ]
        let ids = times.map { Secrets.clientID(milliseconds: $0) }
        #expect(zip(ids, ids.dropFirst()).allSatisfy { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        #expect(ids.allSatisfy { $0.utf8.count == 24 && ($0.first?.isLetter == true || $0.first?.isNumber == true) })
        #expect(ids.allSatisfy { $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" } })
        #expect(Secrets.clientID() != Secrets.clientID())
    }

    @Test func jsonStringsEscapeQuotesBackslashesAndControls() throws {
        let tricky = "quote\" backslash\\ newline\n tab\t bell\u{07} unicode é 🔐"
        var json: [UInt8] = []
        JSONText.appendString(tricky, to: &json)
        let decoded = try JSONSerialization.jsonObject(with: Data(json), options: .fragmentsAllowed) as? String
        #expect(decoded == tricky)
    }
}

@Suite struct TokenParameterTests {
    /// RFC 7662 §2.1 / RFC 7009 §2.1: both doors get the same `invalid_request` for a missing token.
    @Test func aMissingTokenIsInvalidRequest() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent()
        let credentials = ClientCredentials.basic(clientID: client.client.clientID, secret: client.secret!)
        await expectError(.invalidRequest) {
            _ = try await fixture.authority.introspect(token: "", credentials: credentials).value()
        }
        await expectError(.invalidRequest) {
            try await fixture.authority.revoke(token: "", tokenTypeHint: nil, credentials: credentials).value()
        }
    }

    @Test func aScopeInUseStaysAndADeletedOneIsNeitherGrantedNorRequestable() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent(scopes: ["ai:access", "ai:generate"])
        // Issued once first, so the registered scope names are cached when the scope changes.
        #expect(try await fixture.token(client).scope == "ai:access ai:generate")
        await expectError(.failedPrecondition) { try await fixture.authority.deleteScope("ai:generate") }
        #expect(try await fixture.token(client).scope == "ai:access ai:generate")
        var change = Authsec_V1_Client()
        change.allowedScopes = ["ai:access"]
        _ = try await fixture.authority.updateClient(client.client.clientID, change, by: fixture.root)
        try await fixture.authority.deleteScope("ai:generate")
        await expectError(.invalidScope) { _ = try await fixture.token(client, scope: "ai:generate") }
        // Registered and allowed again, it is granted again.
        _ = try await fixture.authority.createScope(name: "ai:generate", description: "")
        change.allowedScopes = ["ai:access", "ai:generate"]
        _ = try await fixture.authority.updateClient(client.client.clientID, change, by: fixture.root)
        #expect(try await fixture.token(client, scope: "ai:generate").scope == "ai:generate")
    }
}
