import AsyncHTTPClient
import Foundation
import JWTKit
import NIOCore
import Testing

/// `jwks_uri` through the real server binary: every way the fetch can fail is the same
/// `invalid_client` to the client as a bad assertion, and the server log says which it was.
/// The `jwks_uri` hosts are a loopback server started here, reachable only with
/// `--allow-insecure-client-metadata`.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ClientURLFetchTests {
    static let insecure = ["--allow-insecure-client-metadata"]

    /// A private_key_jwt client and its signing key.
    struct KeyClient {
        let id: String
        let key: ES256PrivateKey
    }

    struct Reply {
        let status: Int
        let body: String
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }
    }

    struct Assertion: JWTPayload {
        let iss: IssuerClaim, sub: SubjectClaim, aud: AudienceClaim, exp: ExpirationClaim, jti: IDClaim
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func jwks(_ key: ES256PrivateKey) throws -> [UInt8] {
        let parameters = try #require(key.parameters)
        return Array(
            #"{"keys":[{"kty":"EC","crv":"P-256","x":"\#(parameters.x)","y":"\#(parameters.y)","kid":"k1","alg":"ES256","use":"sig"}]}"#
                .utf8)
    }

    func register(_ jwksURI: String, on server: ServerProcess) throws -> KeyClient {
        let environment = [
            "AUTHSEC_ADDRESS": "127.0.0.1:\(server.wirePort)", "AUTHSEC_CLIENT_ID": server.adminID,
            "AUTHSEC_CLIENT_SECRET": server.adminSecret,
        ]
        let (status, output, errors) = try runCLI(
            [
                "clients", "create", "--name", "jwks_uri agent", "--type", "ai_agent", "--grant", "client_credentials",
                "--auth-method", "private_key_jwt", "--jwks-uri", jwksURI, "--json",
            ], environment: environment)
        #expect(status == 0, "\(errors)")
        let created = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        return KeyClient(id: try #require(created["client_id"] as? String), key: ES256PrivateKey())
    }

    /// Asks for a token with an assertion signed by `key` (the client's own by default).
    func token(_ client: KeyClient, on server: ServerProcess, signedWith key: ES256PrivateKey? = nil) async throws
        -> Reply
    {
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: key ?? client.key, kid: "k1")
        let jwt = try await signer.sign(
            Assertion(
                iss: .init(value: client.id), sub: .init(value: client.id),
                aud: .init(value: [server.httpURL + "/oauth/token"]), exp: .init(value: Date().addingTimeInterval(120)),
                jti: .init(value: UUID().uuidString)),
            kid: "k1")
        var request = HTTPClientRequest(url: server.httpURL + "/oauth/token")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(
            ByteBuffer(
                string: "grant_type=client_credentials&client_id=\(client.id)"
                    + "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
                    + "&client_assertion=\(jwt)"))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), body: String(buffer: body))
    }

    static let rejected = #"{"error":"invalid_client","error_description":"client assertion rejected"}"#

    @Test func withTheFlagAGoodDocumentGivesAToken() async throws {
        let server = try ServerProcess(arguments: Self.insecure)
        defer { server.stop(); server.removeData() }
        let host = try await LoopbackHTTPServer()
        let client = try register(host.url("/jwks.json"), on: server)
        host.serve("/jwks.json", .document(try Self.jwks(client.key)))
        let reply = try await token(client, on: server)
        #expect(reply.status == 200, "\(reply.body)")
        #expect(reply.json["access_token"] is String)
        #expect(host.requests("/jwks.json") == 1)
        try await host.close()
    }

    /// A redirect, a bad assertion: the same bytes to the client; the log names the redirect.
    @Test func aRedirectIsTheSameInvalidClientAsABadAssertion() async throws {
        let server = try ServerProcess(arguments: Self.insecure, capturesLog: true)
        defer { server.stop(); server.removeData() }
        let host = try await LoopbackHTTPServer()
        let redirected = try register(host.url("/moved.json"), on: server)
        host.serve("/moved.json", .redirect(host.url("/jwks.json")))
        host.serve("/jwks.json", .document(try Self.jwks(redirected.key)))
        let viaRedirect = try await token(redirected, on: server)
        #expect(viaRedirect.status == 401)
        #expect(viaRedirect.body == Self.rejected)
        #expect(host.requests("/moved.json") == 1)
        #expect(host.requests("/jwks.json") == 0)

        let honest = try register(host.url("/jwks.json"), on: server)
        host.serve("/jwks.json", .document(try Self.jwks(honest.key)))
        let forged = try await token(honest, on: server, signedWith: ES256PrivateKey())
        #expect(forged.status == 401)
        #expect(forged.body == viaRedirect.body)

        let log = server.log
        #expect(log.contains("jwks_uri fetch failed"), "\(log)")
        #expect(log.contains("redirect refused: answered 302"), "\(log)")
        #expect(log.components(separatedBy: "jwks_uri fetch failed").count == 2, "only the redirect is a fetch failure")
        try await host.close()
    }

    /// Without the flag, a loopback jwks_uri is refused before any connection, whether https
    /// (the address rule, literal or resolved) or http (the scheme rule).
    @Test func loopbackWithoutTheFlagIsInvalidClient() async throws {
        let server = try ServerProcess(capturesLog: true)
        defer { server.stop(); server.removeData() }
        let host = try await LoopbackHTTPServer()
        for uri in [
            host.url("/jwks.json", scheme: "https"), host.url("/jwks.json", scheme: "https", host: "localhost"),
            host.url("/jwks.json"),
        ] {
            let client = try register(uri, on: server)
            host.serve("/jwks.json", .document(try Self.jwks(client.key)))
            let reply = try await token(client, on: server)
            #expect(reply.status == 401, "\(uri)")
            #expect(reply.body == Self.rejected, "\(uri)")
        }
        #expect(host.connections == 0)
        #expect(server.log.contains("refused address"), "\(server.log)")
        #expect(server.log.contains("loopback (127.0.0.0/8)"), "\(server.log)")
        try await host.close()
    }

    /// A body that trickles in past the 2 s deadline is cut off there: the client is answered
    /// within the deadline plus a margin for a loaded 2-core machine (the whole trickle would take
    /// minutes).
    @Test func aTricklingBodyIsInvalidClientWithinTheDeadline() async throws {
        let server = try ServerProcess(arguments: Self.insecure)
        defer { server.stop(); server.removeData() }
        let host = try await LoopbackHTTPServer()
        let client = try register(host.url("/jwks.json"), on: server)
        host.serve("/jwks.json", .trickle(length: 10_000, interval: .milliseconds(50)))
        let started = ContinuousClock.now
        let reply = try await token(client, on: server)
        let elapsed = ContinuousClock.now - started
        #expect(reply.status == 401 && reply.body == Self.rejected, "\(reply.body)")
        #expect(elapsed >= .milliseconds(1900), "\(elapsed): the fetch gave up before its deadline")
        #expect(elapsed < .seconds(8), "\(elapsed)")
        try await host.close()
    }

    /// 64 KiB is the cap for a jwks_uri, announced or counted.
    @Test func aBodyOverTheCapIsInvalidClient() async throws {
        let server = try ServerProcess(arguments: Self.insecure)
        defer { server.stop(); server.removeData() }
        let host = try await LoopbackHTTPServer()
        for chunked in [false, true] {
            // One path each: a failure is remembered for 5 s per URL.
            let path = chunked ? "/big-chunked.json" : "/big.json"
            let client = try register(host.url(path), on: server)
            var document = try Self.jwks(client.key)
            // Still a valid JWK Set: an extra member is ignored (RFC 7517 §5).
            document.removeLast()
            document +=
                Array(#","padding":""#.utf8) + Array(repeating: UInt8(ascii: "A"), count: 64 * 1024)
                + Array(#""}"#.utf8)
            host.serve(path, .document(document, chunked: chunked))
            let reply = try await token(client, on: server)
            #expect(reply.status == 401 && reply.body == Self.rejected, "chunked \(chunked): \(reply.body)")
        }
        #expect(host.requests("/big.json") == 1 && host.requests("/big-chunked.json") == 1)
        try await host.close()
    }
}
