import AsyncHTTPClient
import ClientModel
import Foundation
import NIOCore
import Testing
import Wire

/// An agent's settings reach resource servers: in introspection through both doors (as they are
/// now), and as the `agent` claim of its tokens when it sets `claims_in_token`.
@Suite(.serialized, .timeLimit(.minutes(3))) struct AgentSettingsDoorTests {
    static let resource = "https://tools.example/api"

    func call(_ wire: WireClient, _ server: ServerProcess, _ call: Authsec_V1_Request.OneOf_Call) async throws
        -> Authsec_V1_Response
    {
        var request = Authsec_V1_Request()
        request.authorization = try await server.adminBearer(wire)
        request.call = call
        let response = try await wire.call(request)
        try #require(response.status.code == .ok, "\(response.status)")
        return response
    }

    func basic(_ response: Authsec_V1_Response) -> String {
        let id = response.client.client.clientID
        return "Basic " + Data("\(id):\(response.client.clientSecret)".utf8).base64EncodedString()
    }

    func payload(_ jwt: String) throws -> [String: Any] {
        var part = String(jwt.split(separator: ".")[1]).replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        while part.count % 4 != 0 { part += "=" }
        let data = try #require(Data(base64Encoded: part))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func httpIntrospect(_ server: ServerProcess, _ basic: String, _ token: String) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: server.httpURL + "/oauth/introspect")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Authorization", value: basic)
        request.body = .bytes(ByteBuffer(string: "token=\(token)"))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 16)
        #expect(response.status.code == 200)
        return try #require(try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any])
    }

    @Test func introspectionShowsTheAgentsCurrentSettingsAndTokensCarryThemWhenAsked() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let wire = try await server.connect()
        defer { Task { await wire.close() } }

        let agent = try await call(
            wire, server,
            .createClient(
                .with {
                    $0.client.name = "Research agent"
                    $0.client.allowedAudiences = [Self.resource]
                    $0.client.agentConfig.agentType = "task"
                    $0.client.agentConfig.capabilities = ["web_search", "code_execution"]
                    $0.client.agentConfig.contextRetention = "24h"
                    $0.client.agentConfig.maxContextSize = 128_000
                    $0.client.agentConfig.claimsInToken = true
                }))
        let resourceServer = try await call(
            wire, server,
            .createClient(
                .with {
                    $0.client = .with {
                        $0.name = "Tools API"; $0.resources = [Self.resource]
                    }
                }))
        let plain = try await call(wire, server, .createClient(.with { $0.client.name = "No settings" }))

        let issued = try await wire.call(.clientCredentials(authorization: basic(agent), audience: [Self.resource]))
        try #require(issued.status.code == .ok, "\(issued.status)")
        let token = issued.token.accessToken

        // The token's own claim: the settings when it was issued.
        let claim = try #require(try payload(token)["agent"] as? [String: Any])
        #expect(claim["agent_type"] as? String == "task")
        #expect(claim["capabilities"] as? [String] == ["web_search", "code_execution"])
        #expect(claim["context_retention"] as? String == "24h")
        #expect(claim["max_context_size"] as? Int == 128_000)

        // Introspection by the resource server, over HTTP and the wire.
        let seen = try await httpIntrospect(server, basic(resourceServer), token)
        #expect(seen["active"] as? Bool == true)
        let agentObject = try #require(seen["agent"] as? [String: Any])
        #expect(agentObject["agent_type"] as? String == "task")
        #expect(agentObject["capabilities"] as? [String] == ["web_search", "code_execution"])
        var introspect = Authsec_V1_Request()
        introspect.call = .introspect(
            .with {
                $0.token = token
                $0.clientID = resourceServer.client.client.clientID
                $0.clientSecret = resourceServer.client.clientSecret
            })
        let wireSeen = try await wire.call(introspect)
        #expect(wireSeen.introspect.active && wireSeen.introspect.agentType == "task")
        #expect(wireSeen.introspect.agentCapabilities == ["web_search", "code_execution"])
        #expect(wireSeen.introspect.agentMaxContextSize == 128_000)
        #expect(wireSeen.introspect.agentContextRetention == "24h")

        // An update shows in introspection at once; the issued token keeps what it was given.
        _ = try await call(
            wire, server,
            .updateClient(
                .with {
                    $0.clientID = agent.client.client.clientID
                    $0.client.agentConfig.agentType = "analytical"
                    $0.client.agentConfig.capabilities = ["summarize"]
                    $0.client.agentConfig.claimsInToken = false
                    $0.updateMask = ["agent_config"]
                }))
        let updated = try #require(
            try await httpIntrospect(server, basic(resourceServer), token)["agent"] as? [String: Any])
        #expect(updated["agent_type"] as? String == "analytical")
        #expect(updated["capabilities"] as? [String] == ["summarize"])
        #expect(updated["context_retention"] == nil)
        let later = try await wire.call(.clientCredentials(authorization: basic(agent), audience: [Self.resource]))
        #expect(try payload(later.token.accessToken)["agent"] == nil)

        // A client without agent settings: no agent member at all.
        let plainToken = try await wire.call(.clientCredentials(authorization: basic(plain)))
        let own = try await httpIntrospect(server, basic(plain), plainToken.token.accessToken)
        #expect(own["active"] as? Bool == true && own["agent"] == nil)
        #expect(try payload(plainToken.token.accessToken)["agent"] == nil)
    }
}
