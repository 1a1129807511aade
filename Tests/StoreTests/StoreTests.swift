import CLmdb
import Foundation
import Testing

@testable import Store

/// The tables of these tests: the store knows names and bytes, nothing of Authsec's records.
enum TestTables {
    static let schema = Schema(tableNames: ["meta", "items"])
    static let items = schema.table("items", of: TestRecord.self)
}

/// A record as the store sees any: bytes. Here, a name and a description, split by a NUL.
struct TestRecord: StoreRecord, Equatable {
    var name: String
    var description: String

    init(name: String, description: String) {
        self.name = name
        self.description = description
    }

    init(storeBytes bytes: UnsafeRawBufferPointer) throws {
        guard let split = bytes.firstIndex(of: 0) else { throw StoreError(.corrupt, "no separator") }
        name = String(decoding: bytes[..<split], as: UTF8.self)
        description = String(decoding: bytes[(split + 1)...], as: UTF8.self)
    }

    func storeBytes() throws -> [UInt8] { Array(name.utf8) + [0] + Array(description.utf8) }
}

/// A store in a fresh temporary directory, removed by `cleanup`.
func makeTemporaryStore(mapSize: Int = 64 << 20, maxBatch: Int = 1024) throws -> (Store, String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authsec-store-\(UUID().uuidString)")
        .path
    return (
        try Store(
            configuration: .init(directory: directory, schema: TestTables.schema, mapSize: mapSize, maxBatch: maxBatch)),
        directory
    )
}

func scope(_ name: String) -> TestRecord {
    TestRecord(name: name, description: "description of \(name)")
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
            #expect(try store.read { try $0.get(TestTables.items, key) } == nil)
            await #expect {
                try await store.write { try $0.put(TestTables.items, key, scope(key)) }
            } throws: { ($0 as? StoreError)?.code == .invalidKey }
            #expect(try await store.write { try $0.delete(TestTables.items, key) } == false)
        }
        try await store.write { txn in
            try txn.put(TestTables.items, longest, scope("longest"))
            try txn.put(TestTables.items, "z", scope("z"))
        }
        #expect(try store.read { try $0.get(TestTables.items, longest) }?.name == "longest")
        // Paging after a key longer than any stored one finds the keys after it.
        #expect(try store.read { try $0.scan(TestTables.items, after: long, limit: 10) }.map(\.key) == ["z"])
        #expect(try store.read { try $0.scan(TestTables.items, after: "", limit: 10) }.map(\.key) == [longest, "z"])
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
            _ = try Store(configuration: .init(directory: directory, schema: TestTables.schema))
        } throws: { error in
            (error as? StoreError)?.code == .locked
        }
    }

    @Test func writesAreReadBackAfterReopen() async throws {
        let (store, directory) = try makeTemporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await store.write { txn in try txn.put(TestTables.items, "ai:access", scope("ai:access")) }
        store.close()
        let reopened = try Store(
            configuration: .init(directory: directory, schema: TestTables.schema, mapSize: 64 << 20))
        defer { reopened.close() }
        let record = try reopened.read { try $0.get(TestTables.items, "ai:access") }
        #expect(record?.description == "description of ai:access")
    }

    @Test func concurrentWritesShareCommitsAndAllSurvive() async throws {
        let (store, directory) = try makeTemporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<500 {
                group.addTask {
                    try await store.write { txn in
                        try txn.put(TestTables.items, "scope:\(index)", scope("scope:\(index)"))
                    }
                }
            }
            try await group.waitForAll()
        }
        store.close()
        let reopened = try Store(
            configuration: .init(directory: directory, schema: TestTables.schema, mapSize: 64 << 20))
        defer { reopened.close() }
        #expect(try reopened.read { try $0.count(TestTables.items) } == 500)
    }

    @Test func aFailingWriteLeavesNoTraceAndSparesItsBatch() async throws {
        struct Refused: Error {}
        let (store, directory) = try makeTemporaryStore()
        defer { store.close(); try? FileManager.default.removeItem(atPath: directory) }
        async let good: Void = store.write { txn in try txn.put(TestTables.items, "kept", scope("kept")) }
        async let bad: Void = store.write { txn in
            try txn.put(TestTables.items, "half-written", scope("half-written"))
            throw Refused()
        }
        try await good
        var refused = false
        do { try await bad } catch is Refused { refused = true }
        #expect(refused)
        #expect(try store.read { try $0.get(TestTables.items, "kept") } != nil)
        #expect(try store.read { try $0.get(TestTables.items, "half-written") } == nil)
    }

    @Test func unbatchedWritesWork() async throws {
        let (store, directory) = try makeTemporaryStore(maxBatch: 1)
        defer { store.close(); try? FileManager.default.removeItem(atPath: directory) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<20 {
                group.addTask {
                    try await store.write { txn in try txn.put(TestTables.items, "s\(index)", scope("s\(index)")) }
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.read { try $0.count(TestTables.items) } == 20)
    }

    @Test func aFullMapIsAnErrorNotACrash() async throws {
        let (store, directory) = try makeTemporaryStore(mapSize: 256 * 1024)
        defer { store.close(); try? FileManager.default.removeItem(atPath: directory) }
        var sawFull = false
        for index in 0..<2000 {
            do {
                try await store.write { txn in
                    var record = scope("s\(index)")
                    record.description = String(repeating: "x", count: 2000)
                    try txn.put(TestTables.items, "s\(index)", record)
                }
            } catch let error as StoreError {
                #expect(error.code == .mapFull)
                sawFull = true
                break
            }
        }
        #expect(sawFull)
        // Reads and small deletes still work after the failure.
        #expect(try store.read { try $0.get(TestTables.items, "s0") } != nil)
        try await store.write { txn in _ = try txn.delete(TestTables.items, "s0") }
        #expect(try store.read { try $0.get(TestTables.items, "s0") } == nil)
    }

    @Test func scanPagesInKeyOrder() async throws {
        let (store, directory) = try makeTemporaryStore()
        defer { store.close(); try? FileManager.default.removeItem(atPath: directory) }
        try await store.write { txn in
            for name in ["c", "a", "e", "b", "d"] { try txn.put(TestTables.items, name, scope(name)) }
        }
        let first = try store.read { try $0.scan(TestTables.items, limit: 2) }.map(\.key)
        #expect(first == ["a", "b"])
        let second = try store.read { try $0.scan(TestTables.items, after: "b", limit: 2) }.map(\.key)
        #expect(second == ["c", "d"])
        let last = try store.read { try $0.scan(TestTables.items, after: "d", limit: 2) }.map(\.key)
        #expect(last == ["e"])
    }

    @Test func writesAfterCloseFail() async throws {
        let (store, directory) = try makeTemporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        store.close()
        await #expect(throws: StoreError.self) {
            try await store.write { txn in try txn.put(TestTables.items, "x", scope("x")) }
        }
    }

    @Test func compactionLeavesNoFreedBytesAndKeepsEveryRecord() async throws {
        let (store, directory) = try makeTemporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let secret = "a-secret-value-" + UUID().uuidString
        try await store.write { txn in
            try txn.put(TestTables.items, "kept", scope("kept"))
            var record = scope("overwritten")
            record.description = secret
            try txn.put(TestTables.items, "overwritten", record)
        }
        try await store.write { txn in try txn.put(TestTables.items, "overwritten", scope("overwritten")) }
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
        let names = try reopened.read { try $0.scan(TestTables.items, limit: 10) }.map(\.value.name)
        #expect(names == ["kept", "overwritten"])
        try await reopened.write { txn in try txn.put(TestTables.items, "later", scope("later")) }
        #expect(try reopened.read { try $0.count(TestTables.items) } == 3)
    }
}
