import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import Wire

/// `rate_limits.requests_per_minute` through both doors of the real server: one counter per
/// client, spelled 429 + `Retry-After` over HTTP and RESOURCE_EXHAUSTED + `retry_after` on the wire.
@Suite(.serialized, .timeLimit(.minutes(3))) struct RateLimitDoorTests {
    /// Registers an ai_agent limited to `perMinute` over the wire; returns its Basic credential.
    func limitedClient(_ server: ServerProcess, _ wire: WireClient, perMinute: Int64) async throws -> String {
        var call = Authsec_V1_CreateClientRequest()
        call.client.name = "Limited agent"
        call.client.appType = "ai_agent"
        call.client.agentConfig.agentType = "conversational"
        call.client.agentConfig.rateLimits.requestsPerMinute = perMinute
        call.client.agentConfig.rateLimits.tokensPerDay = 1_000_000
        var request = Authsec_V1_Request()
        request.authorization = try await server.adminBearer(wire)
        request.call = .createClient(call)
        let created = try await wire.call(request)
        #expect(created.status.code == .ok, "\(created.status)")
        let credential = "\(created.client.client.clientID):\(created.client.clientSecret)"
        return "Basic " + Data(credential.utf8).base64EncodedString()
    }

    @Test func theSixthRequestOfAMinuteIsRefusedThroughEitherDoor() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let wire = try await server.connect()
        defer { Task { await wire.close() } }
        let client = try await limitedClient(server, wire, perMinute: 5)
        // Five requests, shared between the doors, pass.
        for _ in 0..<3 { #expect(try await server.httpToken(client).status == 200) }
        for _ in 0..<2 {
            #expect(try await wire.call(.clientCredentials(authorization: client)).status.code == .ok)
        }
        let http = try await server.httpToken(client)
        #expect(http.status == 429)
        #expect(http.body["error"] as? String == "rate_limited")
        let retryAfter = try #require(http.retryAfter.flatMap(Int.init))
        #expect((1...12).contains(retryAfter))
        let refused = try await wire.call(.clientCredentials(authorization: client))
        #expect(refused.status.code == .resourceExhausted)
        #expect(refused.status.error == "rate_limited")
        #expect((1...12).contains(refused.status.retryAfter))
        // Other clients are not affected.
        #expect(try await server.httpToken(server.basicAdmin).status == 200)
    }
}
