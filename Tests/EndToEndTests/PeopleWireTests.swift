import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import Wire

/// A person's grant through both doors of the real server: the code comes from the HTTP pages
/// (sign-in and consent, as a browser posts them), and is redeemed and refreshed over the wire.
@Suite(.serialized, .timeLimit(.minutes(3))) struct PeopleWireTests {
    static let callback = "https://app.example/callback"
    static let verifier = String(repeating: "w", count: 50)
    static var challenge: String {
        Data(SHA256.hash(data: Data(verifier.utf8))).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// A browser: cookies kept, redirects read rather than followed.
    final class Browser: @unchecked Sendable {
        // Safe: used by one test task at a time, never concurrently.
        var cookies: [String: String] = [:]
        /// Lives as long as the test process (a client must be shut down before it is freed).
        static let http = HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

        func send(_ url: String, form: [String: String]? = nil) async throws -> (HTTPHeaders, String) {
            var request = HTTPClientRequest(url: url)
            if let form {
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                let body = form.map {
                    "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
                }
                request.body = .bytes(ByteBuffer(string: body.joined(separator: "&")))
            }
            if !cookies.isEmpty {
                request.headers.add(
                    name: "Cookie", value: cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))
            }
            let response = try await Self.http.execute(request, timeout: .seconds(10))
            for header in response.headers["set-cookie"] {
                let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
                if pair.count == 2 { cookies[String(pair[0])] = String(pair[1]) }
            }
            return (response.headers, String(buffer: try await response.body.collect(upTo: 1 << 20)))
        }

        static func hiddenFields(_ html: String) -> [String: String] {
            var fields: [String: String] = [:]
            for match in html.matches(of: #/<input type="hidden" name="([a-z_]+)" value="([^"]*)">/#) {
                fields[String(match.1)] = String(match.2)
            }
            return fields
        }
    }

    @Test func aCodeFromThePagesIsRedeemedAndRefreshedOverTheWire() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let client = try await server.connect()
        defer { Task { await client.close() } }
        let bearer = try await server.adminBearer(client)
        var user = Authsec_V1_CreateUserRequest()
        user.username = "ada"
        user.password = "a long password"
        #expect(
            try await client.call(Authsec_V1_Request(authorization: bearer, call: .createUser(user))).status.code == .ok
        )
        var create = Authsec_V1_CreateClientRequest()
        create.client.name = "Web"
        create.client.appType = "web"
        create.client.callbacks = [Self.callback]
        create.client.allowedScopes = ["openid", "profile"]
        let created = try await client.call(Authsec_V1_Request(authorization: bearer, call: .createClient(create)))
            .client
        let basic = "Basic " + Data("\(created.client.clientID):\(created.clientSecret)".utf8).base64EncodedString()

        let browser = Browser()
        let authorize =
            server.httpURL + "/authorize?response_type=code&client_id=\(created.client.clientID)&scope=openid"
            + "&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback&state=xyz&code_challenge=\(Self.challenge)"
            + "&code_challenge_method=S256"
        let (_, signInPage) = try await browser.send(authorize)
        var form = Browser.hiddenFields(signInPage)
        form["username"] = "ada"
        form["password"] = "a long password"
        let (signedIn, _) = try await browser.send(server.httpURL + "/authorize/sign-in", form: form)
        let next = try #require(signedIn.first(name: "location"))
        let (_, consentPage) = try await browser.send(server.httpURL + next)
        form = Browser.hiddenFields(consentPage)
        form["decision"] = "allow"
        let (consented, _) = try await browser.send(server.httpURL + "/authorize/consent", form: form)
        let location = try #require(consented.first(name: "location"))
        #expect(location.hasPrefix(Self.callback + "?"))
        let query = try #require(URLComponents(string: location)?.queryItems)
        #expect(query.first { $0.name == "state" }?.value == "xyz")
        let code = try #require(query.first { $0.name == "code" }?.value)

        func token(_ fill: (inout Authsec_V1_TokenRequest) -> Void) async throws -> Authsec_V1_Response {
            var call = Authsec_V1_TokenRequest()
            fill(&call)
            return try await client.call(Authsec_V1_Request(authorization: basic, call: .token(call)))
        }
        let wrongVerifier = try await token {
            $0.grantType = "authorization_code"
            $0.code = code
            $0.redirectUri = Self.callback
            $0.codeVerifier = String(repeating: "x", count: 50)
        }
        #expect(wrongVerifier.status.code == .invalidArgument)
        #expect(wrongVerifier.status.error == "invalid_grant")
        let redeemed = try await token {
            $0.grantType = "authorization_code"
            $0.code = code
            $0.redirectUri = Self.callback
            $0.codeVerifier = Self.verifier
        }
        #expect(redeemed.status.code == .ok, "\(redeemed.status)")
        #expect(redeemed.token.idToken.split(separator: ".").count == 3)
        #expect(!redeemed.token.refreshToken.isEmpty)

        // An agent exchanges the person's token over the wire (RFC 8693); the answer says what it is
        // and the token names the agent in `act`, which introspection shows as `actors`.
        var agentCall = Authsec_V1_CreateClientRequest()
        agentCall.client.name = "Agent"
        agentCall.client.appType = "ai_agent"
        agentCall.client.grantTypes = ["token_exchange"]
        agentCall.client.allowedScopes = ["openid"]
        let agent = try await client.call(Authsec_V1_Request(authorization: bearer, call: .createClient(agentCall)))
            .client
        var exchange = Authsec_V1_TokenRequest()
        exchange.grantType = "urn:ietf:params:oauth:grant-type:token-exchange"
        exchange.subjectToken = redeemed.token.accessToken
        exchange.subjectTokenType = "urn:ietf:params:oauth:token-type:access_token"
        let agentBasic = "Basic " + Data("\(agent.client.clientID):\(agent.clientSecret)".utf8).base64EncodedString()
        let exchanged = try await client.call(Authsec_V1_Request(authorization: agentBasic, call: .token(exchange)))
        #expect(exchanged.status.code == .ok, "\(exchanged.status)")
        #expect(exchanged.token.issuedTokenType == "urn:ietf:params:oauth:token-type:access_token")
        #expect(exchanged.token.refreshToken.isEmpty && exchanged.token.scope == "openid")
        var introspect = Authsec_V1_IntrospectRequest()
        introspect.token = exchanged.token.accessToken
        let seen = try await client.call(
            Authsec_V1_Request(authorization: server.basicAdmin, call: .introspect(introspect)))
        #expect(seen.introspect.active && seen.introspect.actors == [agent.client.clientID])
        #expect(seen.introspect.clientID == agent.client.clientID && seen.introspect.sub.hasPrefix("u_"))
        exchange.subjectTokenType = "urn:ietf:params:oauth:token-type:id_token"
        let wrongType = try await client.call(Authsec_V1_Request(authorization: agentBasic, call: .token(exchange)))
        #expect(wrongType.status.code == .invalidArgument && wrongType.status.error == "invalid_request")

        let refreshed = try await token {
            $0.grantType = "refresh_token"
            $0.refreshToken = redeemed.token.refreshToken
        }
        #expect(refreshed.status.code == .ok, "\(refreshed.status)")
        #expect(refreshed.token.refreshToken != redeemed.token.refreshToken)
        #expect(refreshed.token.idToken.isEmpty)
        // The replaced token again: reuse, refused, and the family is gone.
        let reused = try await token {
            $0.grantType = "refresh_token"
            $0.refreshToken = redeemed.token.refreshToken
        }
        #expect(reused.status.error == "invalid_grant")
        let afterReuse = try await token {
            $0.grantType = "refresh_token"
            $0.refreshToken = refreshed.token.refreshToken
        }
        #expect(afterReuse.status.error == "invalid_grant")
    }
}
