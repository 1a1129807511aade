import AsyncHTTPClient
import Authority
import Foundation
import NIOCore
import Testing
import Wire

@testable import Server

/// The same bad input through both doors gets the same OAuth error, with each door's status for
/// it (`ErrorStatus.swift`): the doors are two spellings of one Authority.
@Suite(.serialized, .timeLimit(.minutes(2))) struct SameAnswerTests {
    /// One bad call, as an HTTP form and as a wire request.
    struct Case: Sendable {
        let name: String
        let path: String
        /// Form fields; `BASIC` as a value of `authorization` means the admin's Basic credentials.
        let form: [(String, String)]
        let authorization: String?
        let wire: @Sendable (String) -> Authsec_V1_Request
        let error: String
    }

    static func token(_ fill: @escaping @Sendable (inout Authsec_V1_TokenRequest) -> Void)
        -> @Sendable (String) ->
        Authsec_V1_Request
    {
        { basic in
            var call = Authsec_V1_TokenRequest()
            fill(&call)
            return Authsec_V1_Request(authorization: basic, call: .token(call))
        }
    }

    static let cases: [Case] = [
        Case(
            name: "wrong secret", path: "/oauth/token", form: [("grant_type", "client_credentials")],
            authorization: "WRONG", wire: token { $0.grantType = "client_credentials" }, error: "invalid_client"),
        Case(
            name: "no grant_type", path: "/oauth/token", form: [], authorization: "BASIC", wire: token { _ in },
            error: "invalid_request"),
        Case(
            name: "implicit grant", path: "/oauth/token", form: [("grant_type", "implicit")], authorization: "BASIC",
            wire: token { $0.grantType = "implicit" }, error: "unsupported_grant_type"),
        Case(
            name: "scope not allowed", path: "/oauth/token",
            form: [("grant_type", "client_credentials"), ("scope", "never:granted")], authorization: "BASIC",
            wire: token {
                $0.grantType = "client_credentials"
                $0.scope = "never:granted"
            }, error: "invalid_scope"),
        Case(
            name: "audience not allowed", path: "/oauth/token",
            form: [("grant_type", "client_credentials"), ("resource", "https://elsewhere.example.com")],
            authorization: "BASIC",
            wire: token {
                $0.grantType = "client_credentials"
                $0.audience = ["https://elsewhere.example.com"]
            }, error: "invalid_target"),
        Case(
            name: "two authentication methods", path: "/oauth/token",
            form: [("grant_type", "client_credentials"), ("client_id", "ADMIN"), ("client_secret", "x")],
            authorization: "BASIC",
            wire: token {
                $0.grantType = "client_credentials"
                $0.clientID = "ADMIN"
                $0.clientSecret = "x"
            }, error: "invalid_request"),
        Case(
            name: "wrong assertion type", path: "/oauth/token",
            form: [
                ("grant_type", "client_credentials"), ("client_assertion_type", "urn:nope"),
                ("client_assertion", "a.b.c"),
            ], authorization: nil,
            wire: { _ in
                var call = Authsec_V1_TokenRequest()
                call.grantType = "client_credentials"
                call.clientAssertionType = "urn:nope"
                call.clientAssertion = "a.b.c"
                return Authsec_V1_Request(authorization: "", call: .token(call))
            }, error: "invalid_request"),
        Case(
            name: "no credentials", path: "/oauth/introspect", form: [("token", "x")], authorization: nil,
            wire: { _ in
                var call = Authsec_V1_IntrospectRequest()
                call.token = "x"
                return Authsec_V1_Request(authorization: "", call: .introspect(call))
            }, error: "invalid_client"),
        Case(
            name: "introspection without a token", path: "/oauth/introspect", form: [], authorization: "BASIC",
            wire: { basic in Authsec_V1_Request(authorization: basic, call: .introspect(.init())) },
            error: "invalid_request"),
        Case(
            name: "unknown token type hint", path: "/oauth/revoke",
            form: [("token", "x"), ("token_type_hint", "id_token")], authorization: "BASIC",
            wire: { basic in
                var call = Authsec_V1_RevokeRequest()
                call.token = "x"
                call.tokenTypeHint = "id_token"
                return Authsec_V1_Request(authorization: basic, call: .revoke(call))
            }, error: "unsupported_token_type"),
    ]

    @Test func bothDoorsGiveTheSameAnswerToTheSameBadInput() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let client = try await server.connect()
        defer { Task { await client.close() } }
        let wrong = "Basic " + Data("\(server.adminID):wrong".utf8).base64EncodedString()
        for test in Self.cases {
            let basic = test.authorization == "WRONG" ? wrong : server.basicAdmin
            let form = test.form.map { name, value in
                let value = value == "ADMIN" ? server.adminID : value
                return name + "=" + (value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value)
            }.joined(separator: "&")
            var request = HTTPClientRequest(url: server.httpURL + test.path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            if test.authorization != nil { request.headers.add(name: "Authorization", value: basic) }
            request.body = .bytes(ByteBuffer(string: form))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 1 << 16)
            let body = try #require(
                try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any])
            var wireRequest = test.wire(basic)
            if case .token(var call) = wireRequest.call, call.clientID == "ADMIN" {
                call.clientID = server.adminID
                wireRequest.call = .token(call)
            }
            let status = try await client.call(wireRequest).status
            let code = try #require(AuthorityError.Code(rawValue: test.error), "\(test.error) is not an error code")
            #expect(body["error"] as? String == test.error, "\(test.name): HTTP said \(body)")
            #expect(status.error == test.error, "\(test.name): the wire said \(status)")
            #expect(Int(response.status.code) == Int(code.httpStatus.code), "\(test.name): HTTP status")
            #expect(status.code == code.wireStatus, "\(test.name): wire status")
            #expect(body["error_description"] as? String == status.message, "\(test.name): descriptions differ")
        }
    }
}
