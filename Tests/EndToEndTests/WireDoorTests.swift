import ClientModel
import Foundation
import JWTKit
import NIOCore
import NIOPosix
import Testing
import Wire

/// The binary protocol through real sockets against the real server process.
@Suite(.serialized, .timeLimit(.minutes(3))) struct WireDoorTests {
    func tokenRequest(_ authorization: String, scope: String = "") -> Authsec_V1_Request {
        .clientCredentials(authorization: authorization, scope: scope)
    }

    @Test func tokensAndIntrospectionOverPipelinedCalls() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let client = try await server.connect()
        defer { Task { await client.close() } }
        let responses = try await withThrowingTaskGroup(of: Authsec_V1_Response.self) { group in
            for _ in 0..<200 { group.addTask { try await client.call(tokenRequest(server.basicAdmin)) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(responses.count == 200)
        #expect(responses.allSatisfy { $0.status.code == .ok && $0.token.accessToken.split(separator: ".").count == 3 })
        #expect(Set(responses.map(\.id)).count == 200)
        var introspect = Authsec_V1_Request()
        introspect.authorization = server.basicAdmin
        var call = Authsec_V1_IntrospectRequest()
        call.token = responses[0].token.accessToken
        introspect.call = .introspect(call)
        let answer = try await client.call(introspect)
        #expect(answer.introspect.active)
        #expect(answer.introspect.clientID == server.adminID)
        #expect(answer.introspect.iss == server.httpURL)
        call.token = "not-a-token"
        introspect.call = .introspect(call)
        #expect(try await client.call(introspect).introspect.active == false)
    }

    @Test func wrongCredentialsAreUnauthenticated() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let client = try await server.connect()
        defer { Task { await client.close() } }
        let wrong = "Basic " + Data("\(server.adminID):wrong".utf8).base64EncodedString()
        let response = try await client.call(tokenRequest(wrong))
        #expect(response.status.code == .unauthenticated)
        #expect(response.status.error == "invalid_client")
        let missing = try await client.call(tokenRequest(""))
        #expect(missing.status.code == .unauthenticated)
        let badScope = try await client.call(tokenRequest(server.basicAdmin, scope: "nope:missing"))
        #expect(badScope.status.code == .invalidArgument)
        #expect(badScope.status.error == "invalid_scope")
    }

    @Test func managementNeedsABearerWithTheRightScope() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let client = try await server.connect()
        defer { Task { await client.close() } }
        var create = Authsec_V1_Request()
        var scope = Authsec_V1_CreateScopeRequest()
        scope.name = "ai:access"
        create.call = .createScope(scope)
        let anonymous = try await client.call(create)
        #expect(anonymous.status.code == .unauthenticated)
        #expect(anonymous.status.error == "invalid_token")
        create.authorization = server.basicAdmin
        #expect(try await client.call(create).status.code == .unauthenticated)
        create.authorization = try await server.adminBearer(client, scope: "admin:keys")
        let narrow = try await client.call(create)
        #expect(narrow.status.code == .permissionDenied)
        #expect(narrow.status.error == "insufficient_scope")
        create.authorization = try await server.adminBearer(client)
        let allowed = try await client.call(create)
        #expect(allowed.status.code == .ok)
        #expect(allowed.scope.scope.name == "ai:access")
        #expect(try await client.call(create).status.code == .alreadyExists)
    }

    @Test func invalidClientConfigurationIsRefusedWithTheFieldNamed() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let client = try await server.connect()
        defer { Task { await client.close() } }
        let bearer = try await server.adminBearer(client)
        func create(_ change: (inout Authsec_V1_Client) -> Void) async throws -> Authsec_V1_Status {
            var request = Authsec_V1_Request()
            request.authorization = bearer
            var call = Authsec_V1_CreateClientRequest()
            call.client.name = "Bad"
            call.client.appType = "ai_agent"
            change(&call.client)
            request.call = .createClient(call)
            return try await client.call(request).status
        }
        let cases: [(String, (inout Authsec_V1_Client) -> Void)] = [
            ("callbacks", { $0.callbacks = ["http://example.com/cb"] }),
            ("grant_types", { $0.grantTypes = ["implicit"] }),
            ("app_type", { $0.appType = "toaster" }),
            ("allowed_scopes", { $0.allowedScopes = ["ai:nonexistent"] }),
        ]
        for (field, change) in cases {
            let status = try await create(change)
            #expect(status.code == .invalidArgument, "\(field)")
            #expect(status.message.hasPrefix(field + ":"), "\(status.message)")
        }
        var list = Authsec_V1_Request()
        list.authorization = bearer
        list.call = .listClients(Authsec_V1_ListClientsRequest())
        #expect(try await client.call(list).clients.clients.count == 1)  // only the admin client
    }

    @Test func malformedFramesGetPreciseErrorsAndTheServerKeepsServing() async throws {
        let server = try ServerProcess(arguments: ["--max-frame-size", "4096"])
        defer { server.stop(); server.removeData() }

        // Not protobuf: an error with id 0, and the connection stays usable.
        let sideChannel = try await RawConnection.open(port: server.wirePort)
        try await sideChannel.send(frame: [0x0F, 0xFF, 0xFF])
        let garbageResponse = try await sideChannel.receive()
        #expect(garbageResponse.id == 0)
        #expect(garbageResponse.status.code == .invalidArgument)
        try await sideChannel.send(frame: try tokenRequest(server.basicAdmin).serializedBytes())
        #expect(try await sideChannel.receive().status.code == .ok)

        // An unknown call.
        try await sideChannel.send(frame: [0x08, 0x09, 0x9A, 0x06, 0x00])
        let unknown = try await sideChannel.receive()
        #expect(unknown.id == 9)
        #expect(unknown.status.code == .unimplemented)

        // Oversized: an error response, then the connection closes.
        let big = try await RawConnection.open(port: server.wirePort)
        try await big.send(header: 1 << 20)
        let tooBig = try await big.receive()
        #expect(tooBig.status.code == .resourceExhausted)
        #expect(tooBig.status.message.contains("exceeds"))
        #expect(try await big.isClosedByPeer())
        try await big.close()

        // A truncated frame and a disconnect.
        let truncated = try await RawConnection.open(port: server.wirePort)
        try await truncated.send(header: 100, partial: [1, 2, 3])
        try await truncated.close()

        // Others are still served.
        let fresh = try await server.connect()
        #expect(try await fresh.call(tokenRequest(server.basicAdmin)).status.code == .ok)
        await fresh.close()
        try await sideChannel.close()
    }

    @Test func aCallOnAClosedConnectionFailsAtOnce() async throws {
        let server = try ServerProcess()
        defer { server.removeData() }
        let client = try await server.connect()
        #expect(try await client.call(tokenRequest(server.basicAdmin)).status.code == .ok)
        server.stop()
        let deadline = ContinuousClock.now + .seconds(10)
        while client.isActive, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!client.isActive)
        await #expect(throws: (any Error).self) { try await client.call(tokenRequest(server.basicAdmin)) }
    }

    /// Calls that suspend (here: private_key_jwt assertions whose jwks_uri answers after 1.5 s,
    /// within the fetch deadline of 2 s)
    /// count as in flight. With `--max-in-flight 2`, two of them stop the server reading the
    /// connection, so a token call written after them — one the server answers inline — waits
    /// until they finish; with the default limit it is answered at once. Nothing is lost.
    @Test(arguments: [2, 256])
    func inFlightLimitAppliesBackPressureWithoutLosingRequests(limit: Int) async throws {
        let server = try ServerProcess(
            arguments: ["--max-in-flight", "\(limit)", "--allow-insecure-client-metadata"])
        defer { server.stop(); server.removeData() }
        let host = try await LoopbackHTTPServer()
        let fetch = ClientURLFetchTests()
        let keyClient = try fetch.register(host.url("/slow-jwks.json"), on: server)
        host.serve("/slow-jwks.json", .delayed(try ClientURLFetchTests.jwks(keyClient.key), delay: .milliseconds(1500)))
        let client = try await server.connect()
        defer { Task { await client.close() } }
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: keyClient.key, kid: "k1")
        var assertionCalls: [Authsec_V1_Request] = []
        for _ in 0..<4 {
            var call = Authsec_V1_TokenRequest()
            call.grantType = "client_credentials"
            call.clientID = keyClient.id
            call.clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            call.clientAssertion = try await signer.sign(
                ClientURLFetchTests.Assertion(
                    iss: .init(value: keyClient.id), sub: .init(value: keyClient.id),
                    aud: .init(value: [server.httpURL]), exp: .init(value: Date().addingTimeInterval(120)),
                    jti: .init(value: UUID().uuidString)),
                kid: "k1")
            assertionCalls.append(Authsec_V1_Request(authorization: "", call: .token(call)))
        }
        // Bounds that load can only make truer: with the limit, the quick call cannot be answered
        // before the key fetch (1.5 s after `started`) ends; without it, it is answered while
        // the slow calls still wait on that fetch.
        let started = ContinuousClock.now
        let slow = assertionCalls.map { request in
            Task { (code: try await client.call(request).status.code, at: ContinuousClock.now) }
        }
        try await Task.sleep(for: .milliseconds(200))  // the slow calls are written first
        let quick = try await client.call(tokenRequest(server.basicAdmin))
        let quickAt = ContinuousClock.now
        #expect(quick.status.code == .ok)
        var slowAt: [ContinuousClock.Instant] = []
        for call in slow {
            let answer = try await call.value
            #expect(answer.code == .ok)
            slowAt.append(answer.at)
        }
        let firstSlow = try #require(slowAt.min())
        if limit == 2 {
            // Not even read until the stuck calls were answered.
            #expect(quickAt - started >= .milliseconds(1450), "an inline call was answered past two stuck calls")
        } else {
            #expect(quickAt < firstSlow, "the inline call waited for the slow ones without a limit")
        }
        #expect(host.requests("/slow-jwks.json") == 1)
        try await host.close()
    }
}

/// A bare TCP connection for sending frames the Swift client never would.
struct RawConnection {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    let iterator: Box

    final class Box: @unchecked Sendable {
        // Safe: used by one test task at a time.
        var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        var pending = ByteBuffer()
        init(_ iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) { self.iterator = iterator }
    }

    static func open(port: Int) async throws -> RawConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return RawConnection(channel: channel, iterator: Box(channel.inbound.makeAsyncIterator()))
    }

    func send(frame: [UInt8]) async throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(frame.count), endianness: .big)
        buffer.writeBytes(frame)
        try await channel.outbound.write(buffer)
    }

    func send(header length: UInt32, partial: [UInt8] = []) async throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(length, endianness: .big)
        buffer.writeBytes(partial)
        try await channel.outbound.write(buffer)
    }

    func receive() async throws -> Authsec_V1_Response {
        while true {
            if let length = iterator.pending.getInteger(at: iterator.pending.readerIndex, as: UInt32.self),
                iterator.pending.readableBytes >= 4 + Int(length)
            {
                iterator.pending.moveReaderIndex(forwardBy: 4)
                let bytes = iterator.pending.readBytes(length: Int(length)) ?? []
                return try Authsec_V1_Response(serializedBytes: bytes)
            }
            guard var next = try await iterator.iterator.next() else { throw WireError.connectionClosed }
            iterator.pending.writeBuffer(&next)
        }
    }

    func isClosedByPeer() async throws -> Bool {
        (try? await iterator.iterator.next()) == nil
    }

    func close() async throws {
        channel.outbound.finish()
        try? await channel.channel.close()
    }
}
