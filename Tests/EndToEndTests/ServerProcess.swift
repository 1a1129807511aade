import AsyncHTTPClient
import Foundation
import NIOCore
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
    /// - Parameter capturesLog: keep the server's log (stderr) for `log`, instead of dropping it.
    /// - Parameter environment: variables added to the server's environment.
    init(
        directory: String = ServerProcess.temporaryDirectory(), arguments: [String] = [],
        expectCredentials: Bool = true,
        capturesLog: Bool = false,
        environment: [String: String] = [:]
    ) throws {
        self.directory = directory
        process.executableURL = URL(fileURLWithPath: Self.binary)
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.arguments =
            ["serve", "--data", directory, "--http", "127.0.0.1:0", "--wire", "127.0.0.1:0"] + arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        if capturesLog, FileManager.default.createFile(atPath: directory + ".log", contents: nil),
            let file = FileHandle(forWritingAtPath: directory + ".log")
        {
            process.standardError = file
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        // Read on a thread of our own, so a server that never gets ready fails the test in 30 s
        // instead of blocking it forever.
        let handle = stdout.fileHandleForReading
        let ready = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [lock] in
            var signalled = false
            while true {
                let data = handle.availableData
                lock.lock()
                self.output += String(decoding: data, as: UTF8.self)
                let text = self.output
                lock.unlock()
                if !signalled,
                    data.isEmpty || (text.contains("wire listening on") && text.contains("http listening on"))
                {
                    signalled = true
                    ready.signal()
                }
                if data.isEmpty { return }
            }
        }
        _ = ready.wait(timeout: .now() + 30)
        let output = printed
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
            if !waitForExit(seconds: 20) {
                Issue.record("the server did not stop within 20 s of SIGTERM")
                Foundation.kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        return process.terminationStatus
    }

    private func waitForExit(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        return !process.isRunning
    }

    func kill9() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func removeData() {
        try? FileManager.default.removeItem(atPath: directory)
        try? FileManager.default.removeItem(atPath: directory + ".log")
    }

    /// What the server logged so far, when started with `capturesLog`.
    var log: String {
        (try? String(contentsOfFile: directory + ".log", encoding: .utf8)) ?? ""
    }

    var basicAdmin: String { "Basic " + Data("\(adminID):\(adminSecret)".utf8).base64EncodedString() }

    /// An admin bearer token obtained over the wire.
    func adminBearer(_ client: WireClient, scope: String = "") async throws -> String {
        let response = try await client.call(.clientCredentials(authorization: basicAdmin, scope: scope))
        #expect(response.status.code == .ok, "\(response.status)")
        return "Bearer " + response.token.accessToken
    }
}

/// Runs the CLI and returns (exit status, stdout, stderr); a run longer than `timeout` seconds
/// is killed and fails the test rather than hanging it. `input`, when given, is its standard input.
func runCLI(
    _ arguments: [String], environment: [String: String] = [:], input: String? = nil, timeout: Double = 60
) throws -> (Int32, String, String) {
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
    let stdin = input.map { _ in Pipe() }
    if let stdin { process.standardInput = stdin }
    try process.run()
    if let stdin, let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    // Both pipes drain at once, so a child filling one never blocks on it.
    let outData = PipeDrain(out.fileHandleForReading)
    let errData = PipeDrain(err.fileHandleForReading)
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
    if process.isRunning {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw ServerProcess.ServerError(
            description: "authsec \(arguments.joined(separator: " ")) ran over \(timeout) s")
    }
    process.waitUntilExit()
    return (process.terminationStatus, outData.text(), errData.text())
}

/// Reads a pipe to its end on a thread of its own.
final class PipeDrain: @unchecked Sendable {
    // Safe: `data` is written only by the reader thread before it signals `done`, and read only after.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread {
            self.data = handle.readDataToEndOfFile()
            self.done.signal()
        }
    }

    /// Everything the child wrote; waits at most 10 s for a grandchild that inherited the pipe.
    func text() -> String {
        guard done.wait(timeout: .now() + 10) == .success else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}

extension ServerProcess {
    /// A client_credentials request to the HTTP door's token endpoint, as any HTTP client sends it.
    func httpToken(_ authorization: String) async throws -> (
        status: Int, retryAfter: String?, body: [String: Any]
    ) {
        var request = HTTPClientRequest(url: httpURL + "/oauth/token")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Authorization", value: authorization)
        request.body = .bytes(ByteBuffer(string: "grant_type=client_credentials"))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 16)
        let body = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        return (Int(response.status.code), response.headers.first(name: "Retry-After"), body)
    }
}
