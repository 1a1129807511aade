import Foundation
import Testing

/// `authsec bench` against the real server: a valid run, and clean failures.
@Suite(.serialized, .timeLimit(.minutes(3))) struct BenchCommandTests {
    func environment(_ server: ServerProcess) -> [String: String] {
        [
            "AUTHSEC_ADDRESS": "127.0.0.1:\(server.wirePort)", "AUTHSEC_CLIENT_ID": server.adminID,
            "AUTHSEC_CLIENT_SECRET": server.adminSecret,
        ]
    }

    @Test(arguments: [
        "token", "token-distinct", "introspect", "introspect-distinct", "revoke", "create-client", "mixed",
    ])
    func everyOperationRunsCleanAndCleansUp(op: String) throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let (status, output, error) = try runCLI(
            [
                "bench", "--op", op, "--connections", "2", "--pipeline", "4", "--requests", "200", "--tokens", "300",
                "--clients", "50", "--warmup", "0s", "--json",
            ],
            environment: environment(server))
        #expect(status == 0, "\(error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(report["op"] as? String == op)
        #expect(report["requests"] as? Int == 200)
        #expect(report["errors"] as? Int == 0)
        let latency = try #require(report["latency_ms"] as? [String: Double])
        #expect((latency["p50"] ?? 0) > 0 && (latency["p99"] ?? 0) >= (latency["p50"] ?? 0))
        // Only the admin client is left.
        let (_, listing, _) = try runCLI(["clients", "list", "--json"], environment: environment(server))
        let clients =
            try #require(try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any])["clients"]
            as? [Any]
        #expect(clients?.count == 1)
    }

    /// `--op kdf` needs no server: it times bcrypt checks at the server's cost, in its own process.
    @Test func theKDFIsTimedWithoutAServer() throws {
        let (status, output, error) = try runCLI(
            ["bench", "--op", "kdf", "--requests", "2", "--json", "--address", "127.0.0.1:1"], environment: [:])
        #expect(status == 0, "\(error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(report["op"] as? String == "kdf")
        #expect(report["bcrypt_cost"] as? Int == 11)
        #expect(report["checks"] as? Int == 2)
        let times = try #require(report["check_ms"] as? [String: Double])
        // Cost 11 is 2,048 rounds of key setup: tens of milliseconds at the very least.
        #expect((times["min"] ?? 0) > 10 && (times["p50"] ?? 0) >= (times["min"] ?? 0))
    }

    @Test func openLoopRunsAtTheRequestedRate() throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let (status, output, error) = try runCLI(
            [
                "bench", "--op", "token", "--connections", "2", "--rate", "200", "--duration", "2s", "--warmup", "0s",
                "--json",
            ],
            environment: environment(server))
        #expect(status == 0, "\(error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let requests = try #require(report["requests"] as? Int)
        #expect((360...440).contains(requests), "\(requests) requests at 200/s for 2 s")
    }

    @Test func wrongAddressOrCredentialsFailClearly() throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        var env = environment(server)
        env["AUTHSEC_CLIENT_SECRET"] = "wrong"
        let (badCredentials, _, credentialsError) = try runCLI(["bench", "--requests", "10"], environment: env)
        #expect(badCredentials == 1)
        #expect(credentialsError.contains("invalid_client"))
        let (badAddress, _, addressError) = try runCLI(
            ["bench", "--requests", "10", "--address", "127.0.0.1:1"], environment: environment(server))
        #expect(badAddress == 1)
        #expect(addressError.contains("cannot connect"))
    }

    @Test func aServerThatDiesMidRunEndsTheRunWithAnError() throws {
        let server = try ServerProcess()
        defer { server.removeData() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServerProcess.binary)
        process.arguments = [
            "bench", "--op", "token", "--connections", "2", "--pipeline", "2", "--duration", "60s", "--warmup", "0s",
        ]
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment(server) { env[key] = value }
        process.environment = env
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        Thread.sleep(forTimeInterval: 1.5)
        server.kill9()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        let finished = !process.isRunning
        if !finished { process.terminate() }
        #expect(finished, "bench kept running after the server died")
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(message.contains("the run stopped"))
    }
}
