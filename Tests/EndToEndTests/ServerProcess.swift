import Foundation
import Testing
import Wire

/// The real `authsec` binary, started as a child process on loopback ports chosen by the OS.
final class ServerProcess: @unchecked Sendable {
    // Safe: every mutable field is set in init before the object is shared, except `output`,
    // which only the reader thread appends to under `lock`.
    let process = Process()
    let directory: String
    private(set) var httpURL = ""
    private(set) var wireHost = "127.0.0.1"
    private(set) var wirePort = 0
    private(set) var adminID = ""
    private(set) var adminSecret = ""
    private let lock = NSLock()
    private var output = ""

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["AUTHSEC_BIN"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/authsec").path
    }

    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("authsec-e2e-\(UUID().uuidString)").path
    }

    /// Starts `authsec serve` and waits until both doors are listening.
    init(
        directory: String = ServerProcess.temporaryDirectory(), arguments: [String] = [], expectCredentials: Bool = true
    ) throws {
        self.directory = directory
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments =
            ["serve", "--data", directory, "--http", "127.0.0.1:0", "--wire", "127.0.0.1:0"] + arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        var buffer = Data()
        while Date() < deadline {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            let text = String(decoding: buffer, as: UTF8.self)
            if text.contains("wire listening on") && text.contains("http listening on") {
                output = text
                break
            }
        }
        for line in output.split(separator: "\n") {
            if line.contains("client_id:") { adminID = String(line.split(separator: " ").last ?? "") }
            if line.contains("client_secret:") { adminSecret = String(line.split(separator: " ").last ?? "") }
            if line.hasPrefix("http listening on ") { httpURL = String(line.split(separator: " ")[3]) }
            if line.hasPrefix("wire listening on ") {
                let address = line.split(separator: " ")[3]
                wirePort = Int(address.split(separator: ":").last ?? "") ?? 0
            }
        }
        guard wirePort != 0, !httpURL.isEmpty, !expectCredentials || !adminSecret.isEmpty else {
            process.terminate()
            throw ServerError(description: "server did not start; output: \(output)")
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        let handle = stdout.fileHandleForReading
        Thread.detachNewThread { [lock] in
            while true {
                let data = handle.availableData
                if data.isEmpty { return }
                lock.lock()
                self.output += String(decoding: data, as: UTF8.self)
                lock.unlock()
            }
        }
    }

    struct ServerError: Error, CustomStringConvertible { let description: String }

    var printed: String {
        lock.lock()
        defer { lock.unlock() }
        return output
    }

    func connect() async throws -> WireClient {
        try await WireClient.connect(host: wireHost, port: wirePort)
    }

    /// Sends SIGTERM and returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    func kill9() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func removeData() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    var basicAdmin: String { "Basic " + Data("\(adminID):\(adminSecret)".utf8).base64EncodedString() }

    /// An admin bearer token obtained over the wire.
    func adminBearer(_ client: WireClient, scope: String = "") async throws -> String {
        let response = try await client.call(.clientCredentials(authorization: basicAdmin, scope: scope))
        #expect(response.status.code == .ok, "\(response.status)")
        return "Bearer " + response.token.accessToken
    }
}

/// Runs the CLI and returns (exit status, stdout, stderr).
func runCLI(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ServerProcess.binary)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (
        process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self)
    )
}
