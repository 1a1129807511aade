import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Wire

/// The people flows for `authsec bench`: a throwaway user and `web` client, a browser session
/// signed in through the real pages over HTTP, and authorization codes minted by `/authorize`
/// with that session — what `code-exchange` redeems and `refresh` starts its chains from.
struct BenchPeople: Sendable {
    static let redirectURI = "https://bench.invalid/callback"
    static let verifier = String(repeating: "b", count: 64)
    static var challenge: String {
        Data(SHA256.hash(data: Data(verifier.utf8))).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    let issuer: String
    let clientID: String
    let basic: String
    let cookies: String

    /// Registers the user and client over the wire, signs in through the HTTP pages and consents once.
    static func prepare(_ setup: BenchSetup, issuer: String) async throws -> BenchPeople {
        let admin = setup.clients[0]
        let password = UUID().uuidString + UUID().uuidString
        let username = "bench-" + String(UUID().uuidString.prefix(8)).lowercased()
        var user = Authsec_V1_CreateUserRequest()
        user.username = username
        user.password = password
        _ = try BenchSetup.expectOK(
            try await admin.call(
                Authsec_V1_Request(authorization: setup.adminBearer, call: .createUser(user)), timeout: setup.timeout),
            "create bench user")
        var call = Authsec_V1_CreateClientRequest()
        call.client.name = "authsec-bench-web"
        call.client.appType = "web"
        call.client.callbacks = [redirectURI]
        call.client.allowedScopes = ["openid"]
        let created = try BenchSetup.expectOK(
            try await admin.call(
                Authsec_V1_Request(authorization: setup.adminBearer, call: .createClient(call)), timeout: setup.timeout),
            "create bench web client"
        ).client
        setup.noteCreated(created.client.clientID)
        setup.noteUser(username)
        let basic = "Basic " + Data("\(created.client.clientID):\(created.clientSecret)".utf8).base64EncodedString()
        var people = BenchPeople(issuer: issuer, clientID: created.client.clientID, basic: basic, cookies: "")

        // The pages, as a browser goes through them: sign-in form, consent form, then codes.
        let first = try await people.get(people.authorizeURL(state: "first"))
        let signIn = try Self.form(first.body)
        people = BenchPeople(
            issuer: issuer, clientID: people.clientID, basic: basic, cookies: Self.cookies(first.headers, into: ""))
        let signedIn = try await people.post(
            "/authorize/sign-in", signIn.merging(["username": username, "password": password]) { $1 })
        people = BenchPeople(
            issuer: issuer, clientID: people.clientID, basic: basic,
            cookies: Self.cookies(signedIn.headers, into: people.cookies))
        guard let next = signedIn.headers.first(name: "location") else {
            throw BenchError(description: "bench sign-in was refused")
        }
        let consentPage = try await people.get(issuer + next)
        let consented = try await people.post(
            "/authorize/consent", try Self.form(consentPage.body).merging(["decision": "allow"]) { $1 })
        guard consented.headers.first(name: "location")?.hasPrefix(redirectURI) == true else {
            throw BenchError(description: "bench consent was refused")
        }
        return people
    }

    func authorizeURL(state: String) -> String {
        issuer + "/authorize?response_type=code&client_id=\(clientID)&scope=openid&state=\(state)"
            + "&redirect_uri=\(Self.redirectURI.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
            + "&code_challenge=\(Self.challenge)&code_challenge_method=S256"
    }

    /// `count` fresh codes from `/authorize` (signed in and consented: each answers a redirect).
    func mintCodes(_ count: Int, concurrency: Int = 32) async throws -> [String] {
        let next = SharedCounter()
        return try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var codes: [String] = []
                    while next.take() < count {
                        let answer = try await get(authorizeURL(state: "s"))
                        guard let location = answer.headers.first(name: "location"),
                            let code = URLComponents(string: location)?.queryItems?.first(where: { $0.name == "code" })?
                                .value
                        else { throw BenchError(description: "/authorize did not answer a code: \(answer.status)") }
                        codes.append(code)
                    }
                    return codes
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    /// The wire request that redeems `code`.
    func exchange(_ code: String) -> Authsec_V1_Request {
        var call = Authsec_V1_TokenRequest()
        call.grantType = "authorization_code"
        call.code = code
        call.redirectUri = Self.redirectURI
        call.codeVerifier = Self.verifier
        return Authsec_V1_Request(authorization: basic, call: .token(call))
    }

    /// The wire request that refreshes with `token`.
    func refresh(_ token: String) -> Authsec_V1_Request {
        var call = Authsec_V1_TokenRequest()
        call.grantType = "refresh_token"
        call.refreshToken = token
        return Authsec_V1_Request(authorization: basic, call: .token(call))
    }

    // MARK: - HTTP

    private func get(_ url: String) async throws -> (status: HTTPResponseStatus, headers: HTTPHeaders, body: String) {
        var request = HTTPClientRequest(url: url)
        if !cookies.isEmpty { request.headers.add(name: "Cookie", value: cookies) }
        return try await send(request)
    }

    private func post(_ path: String, _ form: [String: String]) async throws -> (
        status: HTTPResponseStatus, headers: HTTPHeaders, body: String
    ) {
        var request = HTTPClientRequest(url: issuer + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        if !cookies.isEmpty { request.headers.add(name: "Cookie", value: cookies) }
        let body = form.map { "\($0.key)=\(Self.encoded($0.value))" }.joined(separator: "&")
        request.body = .bytes(ByteBuffer(string: body))
        return try await send(request)
    }

    private func send(_ request: HTTPClientRequest) async throws -> (
        status: HTTPResponseStatus, headers: HTTPHeaders, body: String
    ) {
        let response = try await Self.http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (response.status, response.headers, String(buffer: body))
    }

    /// One client for the run, not following redirects (the bench reads them).
    static let http = HTTPClient(
        eventLoopGroupProvider: .shared(LoadRunner.loops),
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))

    private static func encoded(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }

    /// The hidden fields of the page's one form.
    private static func form(_ html: String) throws -> [String: String] {
        var fields: [String: String] = [:]
        for match in html.matches(of: #/<input type="hidden" name="([a-z_]+)" value="([^"]*)">/#) {
            fields[String(match.1)] = String(match.2)
        }
        guard fields["csrf"] != nil else { throw BenchError(description: "no form on the bench page") }
        return fields
    }

    /// `existing` cookies with those the response sets.
    private static func cookies(_ headers: HTTPHeaders, into existing: String) -> String {
        var jar: [String: String] = [:]
        for pair in existing.split(separator: ";") {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if parts.count == 2 { jar[String(parts[0])] = String(parts[1]) }
        }
        for header in headers["set-cookie"] {
            let first = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
            if first.count == 2 { jar[String(first[0])] = String(first[1]) }
        }
        return jar.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
    }
}

/// Refresh chains: each refresh answers the chain's next token, which the next request of that
/// chain uses. As many chains as requests can be in flight, so one is always free.
final class RefreshChains: Sendable {
    private let free: Mutex<[String]>

    init(_ tokens: [String]) { free = Mutex(tokens) }

    func take() -> String? { free.withLock { $0.popLast() } }

    func put(_ token: String) { free.withLock { $0.append(token) } }
}
