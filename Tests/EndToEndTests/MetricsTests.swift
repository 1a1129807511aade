import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import Wire

/// `/metrics` on the HTTP door: Prometheus text, bounded labels, served to loopback by default.
@Suite(.serialized, .timeLimit(.minutes(3))) struct MetricsTests {
    func get(_ url: String) async throws -> (status: Int, contentType: String?, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 4 << 20)
        return (Int(response.status.code), response.headers.first(name: "Content-Type"), String(buffer: bytes))
    }

    /// The value of the sample whose name and labels are exactly `series`, e.g.
    /// `authsec_requests_total{door="wire",call="token"}` (labels in any order).
    func sample(_ text: String, _ name: String, _ labels: [String: String]) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = Double(parts[1]) else { continue }
            let head = String(parts[0])
            var found: [String: String] = [:]
            if let open = head.firstIndex(of: "{"), head.last == "}" {
                for pair in head[head.index(after: open)..<head.index(before: head.endIndex)].split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2 { found[String(kv[0])] = String(kv[1].dropFirst().dropLast()) }
                }
            }
            if String(head.prefix { $0 != "{" }) == name, found == labels { return value }
        }
        return nil
    }

    @Test func requestsErrorsConnectionsAndCommitsAreCounted() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let wire = try await server.connect()
        defer { Task { await wire.close() } }
        for _ in 0..<3 {
            #expect(try await wire.call(.clientCredentials(authorization: server.basicAdmin)).status.code == .ok)
        }
        let wrong = "Basic " + Data("\(server.adminID):wrong".utf8).base64EncodedString()
        #expect(try await wire.call(.clientCredentials(authorization: wrong)).status.error == "invalid_client")
        for _ in 0..<2 { #expect(try await server.httpToken(server.basicAdmin).status == 200) }
        #expect(try await server.httpToken(wrong).status == 401)
        // A durable write, for the store's series.
        var scope = Authsec_V1_CreateScopeRequest()
        scope.name = "metrics:test"
        var create = Authsec_V1_Request()
        create.authorization = try await server.adminBearer(wire)
        create.call = .createScope(scope)
        #expect(try await wire.call(create).status.code == .ok)

        let (status, contentType, text) = try await get(server.httpURL + "/metrics")
        #expect(status == 200)
        #expect(contentType?.hasPrefix("text/plain") == true)
        // 3 tokens + 1 refused + 1 for the admin bearer.
        #expect(sample(text, "authsec_requests_total", ["door": "wire", "call": "token"]) == 5)
        #expect(sample(text, "authsec_requests_total", ["door": "wire", "call": "management"]) == 1)
        #expect(sample(text, "authsec_errors_total", ["door": "wire", "code": "invalid_client"]) == 1)
        #expect(sample(text, "authsec_requests_total", ["door": "http", "call": "token"]) == 3)
        #expect(sample(text, "authsec_errors_total", ["door": "http", "code": "invalid_client"]) == 1)
        #expect(sample(text, "authsec_request_duration_seconds_count", ["door": "wire", "call": "token"]) == 5)
        #expect((sample(text, "authsec_open_connections", ["door": "wire"]) ?? 0) >= 1)
        #expect((sample(text, "authsec_store_commit_duration_seconds_count", [:]) ?? 0) >= 1)
        #expect((sample(text, "authsec_store_batch_size_count", [:]) ?? 0) >= 1)
        // No label carries a token, a client id or a secret.
        #expect(!text.contains(server.adminID))
        #expect(!text.contains("client_id"))
    }

    @Test func onlyTheAllowedRangesMayReadTheMetrics() async throws {
        let server = try ServerProcess(arguments: ["--metrics-allow", "10.0.0.0/8", "--metrics-allow", "fd00::/8"])
        defer { server.stop(); server.removeData() }
        let (status, _, body) = try await get(server.httpURL + "/metrics")
        #expect(status == 403)
        #expect(body.contains("access_denied"))
        let open = try ServerProcess(arguments: ["--metrics-allow", "127.0.0.1"])
        defer { open.stop(); open.removeData() }
        #expect(try await get(open.httpURL + "/metrics").status == 200)
    }

    @Test func aBadRangeIsAStartUpError() throws {
        let (status, _, error) = try runCLI([
            "serve", "--data", ServerProcess.temporaryDirectory(), "--http", "127.0.0.1:0", "--wire", "127.0.0.1:0",
            "--metrics-allow", "10.0.0.0/33",
        ])
        #expect(status != 0)
        #expect(error.contains("--metrics-allow"))
    }
}
