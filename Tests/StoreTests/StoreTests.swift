import CLmdb
import Foundation
import Testing

@testable import Store

/// A store in a fresh temporary directory, removed by `cleanup`.
func makeTemporaryStore(mapSize: Int = 64 << 20, maxBatch: Int = 1024) throws -> (Store, String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authsec-store-\(UUID().uuidString)")
        .path
    return (try Store(configuration: .init(directory: directory, mapSize: mapSize, maxBatch: maxBatch)), directory)
}

func scope(_ name: String) -> Authsec_Store_V1_ScopeRecord {
    var record = Authsec_Store_V1_ScopeRecord()
    record.name = name
    record.description_p = "description of \(name)"
    return record
}

@Suite struct StoreTests {
    @Test func environmentIsDurable() throws {
        let (store, directory) = try makeTemporaryStore()
        defer { store.close(); try? FileManager.default.removeItem(atPath: directory) }
        let flags = store.environmentFlags
        #expect(flags & UInt32(MDB_NOSYNC) == 0)
        #expect(flags & UInt32(MDB_MAPASYNC) == 0)
        #expect(flags & UInt32(MDB_NOMETASYNC) == 0)
    }

    /// LMDB refuses empty keys and keys over 511 bytes; the store answers with its own error (for
    /// a write) or "nothing there" (for a read), never an I/O error.
    @Test func keysLMDBCannotHoldAreTheCallersError() async throws {
        let (store, directory) = try makeTemporaryStore()
        defer { store.close(); try? FileManager.default.removeItem(atPath: directory) }
        let long = String(repeating: "k", count: Store.maxKeySize + 1)
        let longest = String(repeating: "k", count: Store.maxKeySize)
        for key in ["", long] {
            #expect(try store.read { try $0.get(Keyspace.scopes, key) } == nil)
            await #expect {
                try await store.write { try $0.put(Keyspace.scopes, key, scope(key)) }
            } throws: { ($0 as? StoreError)?.code == .invalidKey }
            #expect(try await store.write { try $0.delete(Keyspace.scopes, key) } == false)
        }
        try await store.write { txn in
            try txn.put(Keyspace.scopes, longest, scope("longest"))
            try txn.put(Keyspace.scopes, "z", scope("z"))
        }
        #expect(try store.read { try $0.get(Keyspace.scopes, longest) }?.name == "longest")
        // Paging after a key longer than any stored one finds the keys after it.
        #expect(try store.read { try $0.scan(Keyspace.scopes, after: long, limit: 10) }.map(\.key) == ["z"])
        #expect(try store.read { try $0.scan(Keyspace.scopes, after: "", limit: 10) }.map(\.key) == [longest, "z"])
    }

    @Test func filesArePrivate() throws {
        let (store, directory) = try makeTemporaryStore()
        defer { store.close(); try? FileManager.default.removeItem(atPath: directory) }
        let directoryMode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int
        #expect(directoryMode == 0o700)
        for file in ["data.mdb", "lock.mdb", "authsec.lock"] {
            let mode =
                try FileManager.default.attributesOfItem(atPath: directory + "/" + file)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(file) is \(String(mode ?? 0, radix: 8))")
        }
    }

    @Test func secondOpenOfTheSameDirectoryIsRefused() throws {
        let (store, directory) = try makeTemporaryStore()
        defer { store.close(); try? FileManager.default.removeItem(atPath: directory) }
        #expect {
            _ = try Store(configuration: .init(directory: directory))
        } throws: { error in
            (error as? StoreError)?.code == .locked
        }
    }

    @Test func writesAreReadBackAfterReopen() async throws {
        let (store, directory) = try makeTemporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await store.write { txn in try txn.put(Keyspace.scopes, "ai:access", scope("ai:access")) }
        store.close()
        let reopened = try Store(configuration: .init(directory: directory, mapSize: 64 << 20))
        defer { reopened.close() }
        let record = try reopened.read { try $0.get(Keyspace.scopes, "ai:access") }
        #expect(record?.description_p == "description of ai:access")
    }

    @Test func concurrentWritesShareCommitsAndAllSurvive() async throws {
        let (store, directory) = try makeTemporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<500 {
                group.addTask {
                    try await store.write { txn in
                        try txn.put(Keyspace.scopes, "scope:\(index)", scope("scope:\(index)"))
                    }
                }
            }
            try await group.waitForAll()
        }
        store.close()
        let reopened = try Store(configuration: .init(directory: directory, mapSize: 64 << 20))
        defer { reopened.close() }
        #expect(try reopened.read { try $0.count(Keyspace.scopes) } == 500)
    }

    @Test func aFailingWriteLeavesNoTraceAndSparesItsBatch() async throws {
        struct Refused: Error {}
        let (store, directory) = try makeTemporaryStore()
        defer { store.close(); try? FileManager.default.removeItem(atPath: directory) }
        async let good: Void = store.write { txn in try txn.put(Keyspace.scopes, "kept", scope("kept")) }
        async let bad: Void = store.write { txn in
            try txn.put(Keyspace.scopes, "half-written", scope("half-written"))
            throw Refused()
        }
        try await good
        var refused = false
        do { try await bad } catch is Refused { refused = true }
        #expect(refused)
        #expect(try store.read { try $0.get(Keyspace.scopes, "kept") } != nil)
        #expect(try store.read { try $0.get(Keyspace.scopes, "half-written") } == nil)
    }

    @Test func unbatchedWritesWork() async throws {
        let (store, directory) = try makeTemporaryStore(maxBatch: 1)
        defer { store.close(); try? FileManager.default.removeItem(atPath: directory) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<20 {
                group.addTask {
                    try await store.write { txn in try txn.put(Keyspace.scopes, "s\(index)", scope("s\(index)")) }
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.read { try $0.count(Keyspace.scopes) } == 20)
    }

    @Test func aFullMapIsAnErrorNotACrash() async throws {
        let (store, directory) = try makeTemporaryStore(mapSize: 256 * 1024)
        defer { store.close(); try? FileManager.default.removeItem(atPath: directory) }
        var sawFull = false
        for index in 0..<2000 {
            do {
                try await store.write { txn in
                    var record = scope("s\(index)")
                    record.description_p = String(repeating: "x", count: 2000)
                    try txn.put(Keyspace.scopes, "s\(index)", record)
                }
            } catch let error as StoreError {
                #expect(error.code == .mapFull)
                sawFull = true
                break
            }
        }
        #expect(sawFull)
        // Reads and small deletes still work after the failure.
        #expect(try store.read { try $0.get(Keyspace.scopes, "s0") } != nil)
        try await store.write { txn in _ = try txn.delete(Keyspace.scopes, "s0") }
        #expect(try store.read { try $0.get(Keyspace.scopes, "s0") } == nil)
    }

    @Test func scanPagesInKeyOrder() async throws {
        let (store, directory) = try makeTemporaryStore()
        defer { store.close(); try? FileManager.default.removeItem(atPath: directory) }
        try await store.write { txn in
            for name in ["c", "a", "e", "b", "d"] { try txn.put(Keyspace.scopes, name, scope(name)) }
        }
        let first = try store.read { try $0.scan(Keyspace.scopes, limit: 2) }.map(\.key)
        #expect(first == ["a", "b"])
        let second = try store.read { try $0.scan(Keyspace.scopes, after: "b", limit: 2) }.map(\.key)
        #expect(second == ["c", "d"])
        let last = try store.read { try $0.scan(Keyspace.scopes, after: "d", limit: 2) }.map(\.key)
        #expect(last == ["e"])
    }

    @Test func writesAfterCloseFail() async throws {
        let (store, directory) = try makeTemporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        store.close()
        await #expect(throws: StoreError.self) {
            try await store.write { txn in try txn.put(Keyspace.scopes, "x", scope("x")) }
        }
    }

    @Test func compactionLeavesNoFreedBytesAndKeepsEveryRecord() async throws {
        let (store, directory) = try makeTemporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let secret = "a-secret-value-" + UUID().uuidString
        try await store.write { txn in
            try txn.put(Keyspace.scopes, "kept", scope("kept"))
            var record = scope("overwritten")
            record.description_p = secret
            try txn.put(Keyspace.scopes, "overwritten", record)
        }
        try await store.write { txn in try txn.put(Keyspace.scopes, "overwritten", scope("overwritten")) }
        let configuration = store.configuration
        store.close()
        let file = directory + "/data.mdb"
        // Copy on write: the old page, with the old value, is free but not scrubbed.
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)).range(of: Data(secret.utf8)) != nil)
        // The store must be closed: compaction takes the directory lock itself.
        let held = try Store(configuration: configuration)
        #expect(throws: StoreError.self) { try Store.compact(configuration: configuration) }
        held.close()
        try Store.compact(configuration: configuration)
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)).range(of: Data(secret.utf8)) == nil)
        #expect(!FileManager.default.fileExists(atPath: file + ".compacting"))
        #expect(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int == 0o600)
        let reopened = try Store(configuration: configuration)
        defer { reopened.close() }
        let names = try reopened.read { try $0.scan(Keyspace.scopes, limit: 10) }.map(\.value.name)
        #expect(names == ["kept", "overwritten"])
        try await reopened.write { txn in try txn.put(Keyspace.scopes, "later", scope("later")) }
        #expect(try reopened.read { try $0.count(Keyspace.scopes) } == 3)
    }
}
