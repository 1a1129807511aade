import AsyncHTTPClient
import Foundation
import JWTKit
import NIOCore
import Testing
import Wire

/// The HTTP shim through real sockets against the real server process.
@Suite(.serialized, .timeLimit(.minutes(3))) struct HTTPDoorTests {
    struct Reply {
        let status: Int
        let headers: [String: String]
        let body: [String: Any]
    }

    func post(
        _ url: String, _ body: String, contentType: String = "application/x-www-form-urlencoded",
        authorization: String? = nil
    )
        async throws -> Reply
    {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        request.body = .bytes(ByteBuffer(string: body))
        return try await send(request)
    }

    func get(_ url: String) async throws -> Reply {
        try await send(HTTPClientRequest(url: url))
    }

    func send(_ request: HTTPClientRequest) async throws -> Reply {
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        return Reply(status: Int(response.status.code), headers: headers, body: object)
    }

    @Test func metadataJWKSAndAVerifiableToken() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let metadata = try await get(server.httpURL + "/.well-known/oauth-authorization-server")
        #expect(metadata.status == 200)
        #expect(metadata.body["issuer"] as? String == server.httpURL)
        #expect(metadata.body["token_endpoint"] as? String == server.httpURL + "/oauth/token")
        // Where the wire door is, for a CLI given only AUTHSEC_DOMAIN.
        #expect(metadata.body["authsec_wire_address"] as? String == "127.0.0.1:\(server.wirePort)")
        let jwks = try await get(server.httpURL + "/.well-known/jwks.json")
        #expect(jwks.status == 200)
        let token = try await post(
            server.httpURL + "/oauth/token", "grant_type=client_credentials", authorization: server.basicAdmin)
        #expect(token.status == 200)
        #expect(token.headers["cache-control"] == "no-store")
        #expect(token.body["token_type"] as? String == "Bearer")
        let accessToken = try #require(token.body["access_token"] as? String)
        let keys = JWTKeyCollection()
        let jwksText = String(decoding: try JSONSerialization.data(withJSONObject: jwks.body), as: UTF8.self)
        try await keys.add(jwksJSON: jwksText)
        struct Claims: JWTPayload {
            let iss: IssuerClaim
            let client_id: String
            func verify(using algorithm: some JWTAlgorithm) async throws {}
        }
        let claims = try await keys.verify(accessToken, as: Claims.self)
        #expect(claims.iss.value == server.httpURL)
        #expect(claims.client_id == server.adminID)
        let health = try await get(server.httpURL + "/healthz")
        #expect(health.status == 200)
    }

    @Test func badRequestsGetRFC6749Errors() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let tokenURL = server.httpURL + "/oauth/token"
        let wrong = "Basic " + Data("\(server.adminID):nope".utf8).base64EncodedString()
        let cases: [(String, String, String?, String, Int, String)] = [
            (
                "wrong secret", "grant_type=client_credentials", wrong, "application/x-www-form-urlencoded", 401,
                "invalid_client"
            ),
            (
                "unknown client", "grant_type=client_credentials&client_id=ghost&client_secret=x", nil,
                "application/x-www-form-urlencoded", 401, "invalid_client"
            ),
            (
                "no credentials", "grant_type=client_credentials", nil, "application/x-www-form-urlencoded", 401,
                "invalid_client"
            ),
            (
                "unknown grant", "grant_type=password&username=a&password=b", server.basicAdmin,
                "application/x-www-form-urlencoded", 400, "unsupported_grant_type"
            ),
            (
                "missing grant", "scope=admin:keys", server.basicAdmin, "application/x-www-form-urlencoded", 400,
                "invalid_request"
            ),
            (
                "scope not allowed", "grant_type=client_credentials&scope=openid%20ai:never", server.basicAdmin,
                "application/x-www-form-urlencoded", 400, "invalid_scope"
            ),
            (
                "audience not allowed", "grant_type=client_credentials&audience=https://api.example.com",
                server.basicAdmin, "application/x-www-form-urlencoded", 400, "invalid_target"
            ),
            (
                "malformed form", "grant_type=client_credentials&scope=%zz", server.basicAdmin,
                "application/x-www-form-urlencoded", 400, "invalid_request"
            ),
            (
                "repeated parameter", "grant_type=client_credentials&grant_type=client_credentials", server.basicAdmin,
                "application/x-www-form-urlencoded", 400, "invalid_request"
            ),
            (
                "json body", #"{"grant_type":"client_credentials"}"#, server.basicAdmin, "application/json", 400,
                "invalid_request"
            ),
        ]
        for (name, body, authorization, contentType, status, error) in cases {
            let reply = try await post(tokenURL, body, contentType: contentType, authorization: authorization)
            #expect(reply.status == status, "\(name)")
            #expect(reply.body["error"] as? String == error, "\(name): \(reply.body)")
            #expect(reply.body["error_description"] is String, "\(name)")
        }
        let basicFailure = try await post(tokenURL, "grant_type=client_credentials", authorization: wrong)
        #expect(basicFailure.headers["www-authenticate"]?.hasPrefix("Basic") == true)
        let huge = try await post(
            tokenURL, "grant_type=client_credentials&pad=" + String(repeating: "a", count: 200_000),
            authorization: server.basicAdmin)
        #expect(huge.status == 413)
        #expect(huge.headers["cache-control"] == "no-store")
        // POST only: another method is 405 with Allow; HEAD works where GET does.
        let wrongMethod = try await get(tokenURL)
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.headers["allow"] == "POST")
        var head = HTTPClientRequest(url: server.httpURL + "/.well-known/jwks.json")
        head.method = .HEAD
        #expect(try await send(head).status == 200)
        // The server still answers after all of that.
        #expect(
            try await post(tokenURL, "grant_type=client_credentials", authorization: server.basicAdmin).status == 200)
    }

    @Test func aGrantTheClientMayNotUseIsUnauthorizedClient() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let environment = [
            "AUTHSEC_ADDRESS": "127.0.0.1:\(server.wirePort)", "AUTHSEC_CLIENT_ID": server.adminID,
            "AUTHSEC_CLIENT_SECRET": server.adminSecret,
        ]
        let (status, output, _) = try runCLI(
            [
                "clients", "create", "--name", "Dashboard", "--type", "web", "--callback", "https://app.example.com/cb",
                "--json",
            ], environment: environment)
        #expect(status == 0)
        let created = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let id = try #require(created["client_id"] as? String)
        let secret = try #require(created["client_secret"] as? String)
        let reply = try await post(
            server.httpURL + "/oauth/token", "grant_type=client_credentials&client_id=\(id)&client_secret=\(secret)")
        #expect(reply.status == 400)
        #expect(reply.body["error"] as? String == "unauthorized_client")
    }

    @Test func introspectAndRevoke() async throws {
        // A fixed issuer, so tokens stay valid across the restart below.
        let server = try ServerProcess(arguments: ["--issuer", "http://authsec.test"])
        defer { server.stop(); server.removeData() }
        func token() async throws -> String {
            let reply = try await post(
                server.httpURL + "/oauth/token", "grant_type=client_credentials", authorization: server.basicAdmin)
            return try #require(reply.body["access_token"] as? String)
        }
        let revoked = try await token()
        let kept = try await token()
        let active = try await post(
            server.httpURL + "/oauth/introspect", "token=\(revoked)", authorization: server.basicAdmin)
        #expect(active.body["active"] as? Bool == true)
        #expect(active.body["client_id"] as? String == server.adminID)
        #expect(active.body["iss"] as? String == "http://authsec.test")
        let unauthenticated = try await post(server.httpURL + "/oauth/introspect", "token=\(revoked)")
        #expect(unauthenticated.status == 401)
        let revoke = try await post(
            server.httpURL + "/oauth/revoke", "token=\(revoked)&token_type_hint=access_token",
            authorization: server.basicAdmin)
        #expect(revoke.status == 200)
        let inactive = try await post(
            server.httpURL + "/oauth/introspect", "token=\(revoked)", authorization: server.basicAdmin)
        #expect(inactive.body["active"] as? Bool == false)
        #expect(inactive.body.count == 1)
        // Revocation outlives a restart; the unrevoked token stays active.
        #expect(server.stop() == 0)
        let again = try ServerProcess(
            directory: server.directory, arguments: ["--issuer", "http://authsec.test"], expectCredentials: false)
        defer { again.stop() }
        let afterRestart = try await post(
            again.httpURL + "/oauth/introspect", "token=\(revoked)", authorization: server.basicAdmin)
        #expect(afterRestart.status == 200)
        #expect(afterRestart.body["active"] as? Bool == false)
        let control = try await post(
            again.httpURL + "/oauth/introspect", "token=\(kept)", authorization: server.basicAdmin)
        #expect(control.body["active"] as? Bool == true)
    }

    /// Requests pipelined on one connection are answered in order, whether the router or the
    /// event-loop fast path answers them.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let port = try #require(URL(string: server.httpURL)?.port)
        let form = "grant_type=client_credentials"
        func tokenRequest(_ authorization: String) -> String {
            "POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: \(authorization)\r\n"
                + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)"
        }
        let wrong = "Basic " + Data("\(server.adminID):nope".utf8).base64EncodedString()
        // Router (healthz), fast path (token), router (JWKS), fast path (401), fast path (token).
        let requests =
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + tokenRequest(server.basicAdmin)
            + "GET /.well-known/jwks.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + tokenRequest(wrong)
            + tokenRequest(server.basicAdmin)
        let connection = try await RawConnection.open(port: port)
        try await connection.channel.outbound.write(ByteBuffer(string: requests))
        var received = ""
        let deadline = ContinuousClock.now + .seconds(10)
        while received.components(separatedBy: "HTTP/1.1 ").count - 1 < 5, ContinuousClock.now < deadline {
            guard var chunk = try await connection.iterator.iterator.next() else { break }
            received += chunk.readString(length: chunk.readableBytes) ?? ""
        }
        try await connection.close()
        let statuses = received.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
        #expect(statuses == ["200", "200", "200", "401", "200"], "\(received)")
        let bodies = received.components(separatedBy: "HTTP/1.1 ").dropFirst()
        #expect(bodies.first?.contains(#""status":"ok""#) == true)
        #expect(bodies.dropFirst().first?.contains("access_token") == true)
        #expect(bodies.dropFirst(2).first?.contains("keys") == true)
        #expect(bodies.dropFirst(3).first?.contains("invalid_client") == true)
        #expect(bodies.dropFirst(3).first?.lowercased().contains("www-authenticate: basic") == true)
        #expect(bodies.dropFirst(4).first?.contains("access_token") == true)
        // Every response carries a Date header (RFC 9110 §6.6.1), whichever path answered it.
        #expect(bodies.allSatisfy { $0.lowercased().contains("\r\ndate: ") })
    }

    /// Reads from a raw connection until `count` responses have begun, or it closes.
    func responses(_ count: Int, from connection: RawConnection) async throws -> (text: String, closed: Bool) {
        var received = ""
        let deadline = ContinuousClock.now + .seconds(10)
        while received.components(separatedBy: "HTTP/1.1 ").count - 1 < count, ContinuousClock.now < deadline {
            guard var chunk = try await connection.iterator.iterator.next() else { return (received, true) }
            received += chunk.readString(length: chunk.readableBytes) ?? ""
        }
        return (received, false)
    }

    @Test func requestsInPiecesChunkedOrClosingAreAllAnswered() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let port = try #require(URL(string: server.httpURL)?.port)
        let form = "grant_type=client_credentials"
        let head =
            "POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: \(server.basicAdmin)\r\n"
            + "Content-Type: application/x-www-form-urlencoded\r\n"

        // One request in three TCP segments: the fast path waits for the rest of it.
        let connection = try await RawConnection.open(port: port)
        let whole = head + "Content-Length: \(form.utf8.count)\r\n\r\n" + form
        for piece in [whole.prefix(20), whole.dropFirst(20).prefix(whole.count - 30), whole.suffix(10)] {
            try await connection.channel.outbound.write(ByteBuffer(string: String(piece)))
            try await Task.sleep(for: .milliseconds(50))
        }
        // A chunked body the fast path does not frame: NIO's parser and the router answer it, and
        // every later request on the connection.
        let chunked =
            head + "Transfer-Encoding: chunked\r\n\r\n" + String(form.utf8.count, radix: 16)
            + "\r\n\(form)\r\n0\r\n\r\n"
        try await connection.channel.outbound.write(ByteBuffer(string: chunked + whole))
        let (text, _) = try await responses(3, from: connection)
        try await connection.close()
        let replies = text.components(separatedBy: "HTTP/1.1 ").dropFirst()
        #expect(replies.map { String($0.prefix(3)) } == ["200", "200", "200"], "\(text)")
        #expect(replies.allSatisfy { $0.contains("access_token") })

        // Connection: close is answered, then the server closes the connection.
        let closing = try await RawConnection.open(port: port)
        try await closing.channel.outbound.write(
            ByteBuffer(string: head + "Connection: close\r\nContent-Length: \(form.utf8.count)\r\n\r\n" + form))
        var (reply, closed) = try await responses(1, from: closing)
        if !closed { (_, closed) = try await responses(2, from: closing) }
        #expect(reply.hasPrefix("HTTP/1.1 200") && reply.contains("access_token"), "\(reply)")
        #expect(closed)
        try? await closing.close()
    }

    @Test func idleConnectionsAreClosedOnBothDoors() async throws {
        let server = try ServerProcess(arguments: ["--idle-timeout", "1s"])
        defer { server.stop(); server.removeData() }
        let httpPort = try #require(URL(string: server.httpURL)?.port)
        // An HTTP connection that answered a request, then went quiet, and a wire connection
        // that never spoke: both are closed by the server.
        let http = try await RawConnection.open(port: httpPort)
        let form = "grant_type=client_credentials"
        try await http.channel.outbound.write(
            ByteBuffer(
                string: "POST /oauth/token HTTP/1.1\r\nHost: x\r\nAuthorization: \(server.basicAdmin)\r\n"
                    + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)"
            ))
        let (reply, closedEarly) = try await responses(1, from: http)
        #expect(reply.hasPrefix("HTTP/1.1 200") && !closedEarly)
        let wire = try await RawConnection.open(port: server.wirePort)
        let started = ContinuousClock.now
        // Should the server never close them, this does, and the time check below fails.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(8))
            for connection in [http, wire] { try? await connection.channel.channel.close() }
        }
        defer { watchdog.cancel() }
        for connection in [http, wire] {
            while try await connection.iterator.iterator.next() != nil {}
            // NIO requires the writer finished before the channel is released, closed or not.
            try await connection.close()
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}
