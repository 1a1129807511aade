import CLmdb
import Dispatch
import Foundation
import Synchronization

/// The embedded LMDB store: lock-free reads and one batching, durable writer.
///
/// Durability: the environment is opened with neither `MDB_NOSYNC`, `MDB_MAPASYNC` nor
/// `MDB_NOMETASYNC`, so a write acknowledged by `write(_:)` has reached the disk.
public final class Store: Sendable {
    public struct Configuration: Sendable {
        /// The data directory; created 0700 if missing. Its files are created 0600.
        public var directory: String
        /// The largest the store may grow (`--map-size`); LMDB reserves address space, not disk.
        public var mapSize: Int = 16 << 30
        /// Most mutations committed in one transaction. 1 switches batching off (for comparisons).
        public var maxBatch: Int = 1024
        /// The named databases, opened (and created if missing) at start.
        public var schema: Schema
        /// Told of every commit: how many mutations it held and how long it took (ns), fsync
        /// included. Runs on the writer's thread, so it must be quick.
        public var commitObserver: (@Sendable (_ mutations: Int, _ nanoseconds: UInt64) -> Void)?

        public init(directory: String, schema: Schema, mapSize: Int = 16 << 30, maxBatch: Int = 1024) {
            self.directory = directory
            self.schema = schema
            self.mapSize = mapSize
            self.maxBatch = maxBatch
        }
    }

    /// The longest key LMDB accepts (its compile-time default, `mdb_env_get_maxkeysize`).
    public static let maxKeySize = 511

    /// Whether LMDB can store `key`: keys are 1 to `maxKeySize` bytes.
    static func isValidKey(_ key: UnsafeRawBufferPointer) -> Bool {
        key.count > 0 && key.count <= maxKeySize
    }

    let environment: Environment
    let writer: BatchingWriter
    private let readPool: Mutex<[ReadSlot]>
    public let configuration: Configuration

    /// Opens (creating if needed) the store in `configuration.directory`.
    /// - Throws: `StoreError.locked` when another process has the directory open.
    public init(configuration: Configuration) throws {
        self.configuration = configuration
        environment = try Environment(configuration: configuration)
        writer = BatchingWriter(
            environment: environment, maxBatch: max(1, configuration.maxBatch), observer: configuration.commitObserver)
        readPool = Mutex([])
    }

    /// The flags LMDB reports for the open environment (for durability checks).
    public var environmentFlags: UInt32 {
        var flags: UInt32 = 0
        mdb_env_get_flags(environment.env, &flags)
        return flags
    }

    /// Runs `body` in a read transaction (a reused one where possible); never `await` inside.
    public func read<T>(_ body: (ReadTransaction) throws -> T) throws -> T {
        let slot = try takeReadSlot()
        defer { returnReadSlot(slot) }
        return try body(ReadTransaction(txn: slot.txn, dbis: environment.dbis))
    }

    /// Applies `body` in the next batch and returns once that batch's commit is durable.
    ///
    /// A throwing `body` leaves no trace: its changes are rolled back without touching the
    /// other mutations of the batch. `body` may run more than once (the batch is redone when
    /// another of its mutations fails), so it must read and change nothing but `txn`.
    public func write<T: Sendable>(_ body: @escaping @Sendable (WriteTransaction) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            writer.enqueue(
                WriteJob { txn in
                    do {
                        let value = try body(txn)
                        return .applied { error in
                            if let error {
                                continuation.resume(throwing: error)
                            } else {
                                continuation.resume(returning: value)
                            }
                        }
                    } catch {
                        return .failed { continuation.resume(throwing: error) }
                    }
                } reject: { error in
                    continuation.resume(throwing: error)
                }
            )
        }
    }

    /// Finishes pending writes and closes the environment. Further calls fail with `.closed`.
    public func close() {
        writer.close()
        let slots = readPool.withLock { pool in
            let slots = pool
            pool.removeAll()
            return slots
        }
        for slot in slots { mdb_txn_abort(slot.txn) }
        environment.close()
    }

    private func takeReadSlot() throws -> ReadSlot {
        guard !environment.isClosed else { throw StoreError(.closed, "the store is closed") }
        if let slot = readPool.withLock({ $0.popLast() }) {
            try check(mdb_txn_renew(slot.txn))
            return slot
        }
        var txn: OpaquePointer?
        try check(mdb_txn_begin(environment.env, nil, UInt32(MDB_RDONLY), &txn))
        // mdb_txn_begin set txn when it returned 0.
        return ReadSlot(txn: txn!)
    }

    private func returnReadSlot(_ slot: ReadSlot) {
        mdb_txn_reset(slot.txn)
        let kept = readPool.withLock { pool -> Bool in
            guard pool.count < 64 else { return false }
            pool.append(slot)
            return true
        }
        if !kept { mdb_txn_abort(slot.txn) }
    }
}

/// A reset read-only transaction kept for reuse (`MDB_NOTLS`: not tied to a thread).
struct ReadSlot: @unchecked Sendable {
    // Safe: a slot is owned by exactly one caller at a time (taken from and returned to the pool
    // under its mutex), and with MDB_NOTLS LMDB allows a read transaction to move between threads.
    let txn: OpaquePointer
}

/// The handles of a store's named databases, valid while its `Environment` lives.
struct DatabaseHandles {
    private let base: UnsafeMutableBufferPointer<MDB_dbi>

    init(_ handles: [MDB_dbi]) {
        base = .allocate(capacity: handles.count)
        _ = base.initialize(from: handles)
    }

    subscript(index: Int) -> MDB_dbi { base[index] }

    func deallocate() { base.deallocate() }
}

/// The LMDB environment, its named databases and the directory lock.
final class Environment: @unchecked Sendable {
    // Safe: `env` and `dbis` are set once in init and never mutated (`dbis` is freed in deinit,
    // when no transaction can be running); LMDB documents the environment handle as shareable
    // across threads, and each transaction made from it is used by one thread at a time (read
    // slots via the pool, write transactions only on the writer's queue). `closed` is an atomic.
    let env: OpaquePointer
    /// The named databases' handles, by table index. Unmanaged memory rather than an array: every
    /// read would otherwise retain one array from all event loops, an atomic on a shared cache line.
    let dbis: DatabaseHandles
    private let lockDescriptor: Int32
    private let closed = Atomic<Bool>(false)

    var isClosed: Bool { closed.load(ordering: .acquiring) }

    init(configuration: Store.Configuration) throws {
        let directory = configuration.directory
        if mkdir(directory, 0o700) != 0, errno != EEXIST {
            throw StoreError(.io, "cannot create data directory \(directory): \(String(cString: strerror(errno)))")
        }
        let lockPath = directory + "/authsec.lock"
        let descriptor = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StoreError(.io, "cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(descriptor)
            throw StoreError(.locked, "data directory \(directory) is in use by another authsec process")
        }
        lockDescriptor = descriptor

        var env: OpaquePointer?
        do {
            try check(mdb_env_create(&env))
            try check(mdb_env_set_maxdbs(env, MDB_dbi(configuration.schema.tableNames.count + 4)))
            try check(mdb_env_set_maxreaders(env, 512))
            try check(mdb_env_set_mapsize(env, configuration.mapSize))
            try check(mdb_env_open(env, directory, UInt32(MDB_NOTLS), 0o600))
            var txn: OpaquePointer?
            try check(mdb_txn_begin(env, nil, 0, &txn))
            var handles: [MDB_dbi] = []
            for name in configuration.schema.tableNames {
                var dbi: MDB_dbi = 0
                let rc = mdb_dbi_open(txn, name, UInt32(MDB_CREATE), &dbi)
                if rc != 0 {
                    mdb_txn_abort(txn)
                    throw storeError(rc)
                }
                handles.append(dbi)
            }
            try check(mdb_txn_commit(txn))
            dbis = DatabaseHandles(handles)
        } catch {
            if env != nil { mdb_env_close(env) }
            flock(descriptor, LOCK_UN)
            Glibc.close(descriptor)
            throw error
        }
        // mdb_env_create succeeded, so env is set.
        self.env = env!
    }

    deinit {
        dbis.deallocate()
    }

    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        mdb_env_close(env)
        flock(lockDescriptor, LOCK_UN)
        Glibc.close(lockDescriptor)
    }
}
