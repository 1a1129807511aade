import Foundation
import Testing
import Wire

/// An acknowledged write has reached the disk before its answer leaves.
///
/// A kill -9 test cannot show this: the page cache survives the process, so it passes without a
/// single fsync. Here the server runs with `SyncOrder/syncorder.c` preloaded, which logs, in
/// completion order, every call that makes data durable and every write to a socket. The answer
/// to a write must come after an `fdatasync` of the data file and the synchronous write of the
/// meta page (LMDB's commit); the answer to a token call, which writes nothing, after neither.
@Suite(.serialized, .timeLimit(.minutes(2))) struct DurabilityTests {
    /// Compiles the preload library with the C compiler `make test` installs.
    static func buildShim(into directory: String) throws -> String {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("SyncOrder/syncorder.c").path
        let library = directory + "/syncorder.so"
        let compiler = Process()
        compiler.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compiler.arguments = ["gcc", "-shared", "-fPIC", "-O2", "-o", library, source, "-ldl"]
        try compiler.run()
        compiler.waitUntilExit()
        #expect(compiler.terminationStatus == 0, "gcc could not build the preload library")
        return library
    }

    /// The events logged since `mark` lines.
    static func events(in log: String, after mark: Int) throws -> [String] {
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        return lines.dropFirst(mark).map { String($0.split(separator: " ")[0]) }
    }

    static func lineCount(_ log: String) -> Int {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    @Test func acknowledgedWritesReachTheDiskBeforeTheirAnswer() async throws {
        let scratch = ServerProcess.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let library = try Self.buildShim(into: scratch)
        let log = scratch + "/events.log"
        let server = try ServerProcess(environment: ["LD_PRELOAD": library, "SYNCORDER_LOG": log])
        defer { server.stop(); server.removeData() }
        let client = try await server.connect()
        defer { Task { await client.close() } }
        let bearer = try await server.adminBearer(client)
        for round in 0..<3 {
            // A token call: answered with no sync before it. Its usage count and audit event are
            // written by the once-a-second flush, after the answer; the wait lets the flush of
            // what came before end first.
            try await Task.sleep(for: .milliseconds(1200))
            var mark = Self.lineCount(log)
            #expect(try await client.call(.clientCredentials(authorization: server.basicAdmin)).status.code == .ok)
            try await Task.sleep(for: .milliseconds(50))
            var events = try Self.events(in: log, after: mark)
            #expect(events.first == "send", "round \(round): a token call synced before its answer: \(events)")
            // A client creation: its answer leaves only after the commit is on disk.
            mark = Self.lineCount(log)
            var create = Authsec_V1_CreateClientRequest()
            create.client.name = "durable \(round)"
            let created = try await client.call(Authsec_V1_Request(authorization: bearer, call: .createClient(create)))
            #expect(created.status.code == .ok)
            try await Task.sleep(for: .milliseconds(50))
            events = try Self.events(in: log, after: mark)
            let answer = try #require(events.firstIndex(of: "send"), "round \(round): no answer logged: \(events)")
            let beforeAnswer = events[..<answer]
            #expect(beforeAnswer.contains("sync"), "round \(round): answered before fdatasync: \(events)")
            #expect(beforeAnswer.contains("dsync-write"), "round \(round): answered before the meta page: \(events)")
        }
    }
}
