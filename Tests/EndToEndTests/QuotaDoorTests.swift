import AsyncHTTPClient
import ClientModel
import Foundation
import NIOCore
import Testing
import Wire

/// AI-usage quotas through the real server: `Charge` on the wire (the gateway's own Bearer),
/// `POST /quota/charge` over HTTP (its client credentials), `authsec quota`, and a kill -9.
@Suite(.serialized, .timeLimit(.minutes(3))) struct QuotaDoorTests {
    static let gatewayURL = "https://gateway.example/llm"

    struct Registered {
        let id: String
        let secret: String
        var basic: String { "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString() }
    }

    func register(_ server: ServerProcess, _ wire: WireClient, _ client: Authsec_V1_Client) async throws -> Registered {
        var request = Authsec_V1_Request()
        request.authorization = try await server.adminBearer(wire)
        request.call = .createClient(.with { $0.client = client })
        let created = try await wire.call(request)
        try #require(created.status.code == .ok, "\(created.status)")
        return Registered(id: created.client.client.clientID, secret: created.client.clientSecret)
    }

    /// An agent with a budget of `budget` and its token for the gateway; the gateway and its own token.
    func parties(_ server: ServerProcess, _ wire: WireClient, budget: Int64) async throws -> (
        agent: Registered, agentToken: String, gateway: Registered, gatewayToken: String
    ) {
        let agent = try await register(
            server, wire,
            .with {
                $0.name = "Budgeted agent"
                $0.allowedAudiences = [Self.gatewayURL]
                $0.agentConfig.rateLimits.tokensPerDay = budget
            })
        let gateway = try await register(
            server, wire,
            .with {
                $0.name = "LLM gateway"
                $0.resources = [Self.gatewayURL]
            })
        let agentToken = try await wire.call(
            .clientCredentials(authorization: agent.basic, audience: [Self.gatewayURL]))
        let gatewayToken = try await wire.call(.clientCredentials(authorization: gateway.basic))
        return (agent, agentToken.token.accessToken, gateway, gatewayToken.token.accessToken)
    }

    func wireCharge(_ wire: WireClient, bearer: String, token: String, amount: Int64, failWhenExhausted: Bool = false)
        async throws -> Authsec_V1_Response
    {
        var request = Authsec_V1_Request()
        request.authorization = "Bearer " + bearer
        request.call = .charge(
            .with {
                $0.token = token
                $0.amount = amount
                $0.failWhenExhausted = failWhenExhausted
            })
        return try await wire.call(request)
    }

    func httpCharge(_ server: ServerProcess, _ basic: String, _ body: String) async throws -> (Int, [String: Any]) {
        var request = HTTPClientRequest(url: server.httpURL + "/quota/charge")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Authorization", value: basic)
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 16)
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        return (Int(response.status.code), object)
    }

    func environment(_ server: ServerProcess) -> [String: String] {
        [
            "AUTHSEC_ADDRESS": "127.0.0.1:\(server.wirePort)", "AUTHSEC_CLIENT_ID": server.adminID,
            "AUTHSEC_CLIENT_SECRET": server.adminSecret,
        ]
    }

    @Test func aGatewayChargesThroughBothDoorsUntilRefused() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let wire = try await server.connect()
        defer { Task { await wire.close() } }
        let p = try await parties(server, wire, budget: 1000)

        let first = try await wireCharge(wire, bearer: p.gatewayToken, token: p.agentToken, amount: 600)
        #expect(first.status.code == .ok)
        #expect(first.charge.allowed && first.charge.remaining == 400)
        #expect(first.charge.resetsAt > Int64(Date().timeIntervalSince1970))

        let (status, body) = try await httpCharge(server, p.gateway.basic, "token=\(p.agentToken)&amount=300")
        #expect(status == 200)
        #expect(body["allowed"] as? Bool == true && body["remaining"] as? Int == 100)

        // Past the budget: refused whole; on the wire an error only when asked for.
        let refused = try await wireCharge(
            wire, bearer: p.gatewayToken, token: p.agentToken, amount: 200, failWhenExhausted: true)
        #expect(refused.status.code == .resourceExhausted && refused.status.error == "quota_exhausted")
        #expect(!refused.charge.allowed && refused.charge.remaining == 100)
        let quiet = try await wireCharge(wire, bearer: p.gatewayToken, token: p.agentToken, amount: 200)
        #expect(quiet.status.code == .ok && !quiet.charge.allowed)
        let (_, refusedBody) = try await httpCharge(server, p.gateway.basic, "token=\(p.agentToken)&amount=101")
        #expect(refusedBody["allowed"] as? Bool == false && refusedBody["remaining"] as? Int == 100)

        // Bad input.
        for amount in ["0", "-5", "1000000001", "abc", ""] {
            let (badStatus, badBody) = try await httpCharge(
                server, p.gateway.basic, "token=\(p.agentToken)&amount=\(amount)")
            #expect(badStatus == 400 && badBody["error"] as? String == "invalid_request", "amount=\(amount)")
        }
        let own = try await wireCharge(wire, bearer: p.agentToken, token: p.agentToken, amount: 1)
        #expect(own.status.code == .permissionDenied && own.status.error == "access_denied")
        // A caller the introspection policy does not let see the token learns nothing of it.
        let stranger = try await register(server, wire, .with { $0.name = "Stranger" })
        let (foreignStatus, foreignBody) = try await httpCharge(
            server, stranger.basic, "token=\(p.agentToken)&amount=1")
        #expect(foreignStatus == 400 && foreignBody["error"] as? String == "invalid_request")
        let noBearer = try await wireCharge(wire, bearer: "", token: p.agentToken, amount: 1)
        #expect(noBearer.status.code == .unauthenticated && noBearer.status.error == "invalid_token")

        let (code, output, error) = try runCLI(["quota", p.agent.id, "--json"], environment: environment(server))
        #expect(code == 0, "\(error)")
        let quota = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(quota["spent"] as? Int == 900 && quota["budget"] as? Int == 1000 && quota["remaining"] as? Int == 100)
        let (_, text, _) = try runCLI(["quota", p.agent.id], environment: environment(server))
        #expect(text.contains("900 of 1000"))
    }

    @Test func acknowledgedChargesSurviveKill9AfterTheFlushInterval() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let wire = try await server.connect()
        let p = try await parties(server, wire, budget: 10_000)
        for _ in 0..<5 {
            #expect(try await wireCharge(wire, bearer: p.gatewayToken, token: p.agentToken, amount: 100).charge.allowed)
        }
        await wire.close()
        // The documented bound: a crash forgets at most the last second of charges.
        try await Task.sleep(for: .milliseconds(1500))
        server.kill9()
        let restarted = try ServerProcess(directory: server.directory, expectCredentials: false)
        defer { restarted.stop() }
        let env = [
            "AUTHSEC_ADDRESS": "127.0.0.1:\(restarted.wirePort)", "AUTHSEC_CLIENT_ID": server.adminID,
            "AUTHSEC_CLIENT_SECRET": server.adminSecret,
        ]
        let (code, output, error) = try runCLI(["quota", p.agent.id, "--json"], environment: env)
        #expect(code == 0, "\(error)")
        let quota = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(quota["spent"] as? Int == 500)
    }
}
