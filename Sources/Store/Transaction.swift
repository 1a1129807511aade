import CLmdb
import Foundation

/// A read view of the store, valid only inside the closure that received it.
///
/// Values are decoded straight from LMDB's memory map, so nothing read may outlive the closure
/// except the decoded records (which own their bytes).
public struct ReadTransaction {
    let txn: OpaquePointer
    let dbis: DatabaseHandles

    /// The record stored under `key`, or nil.
    public func get<R>(_ table: Table<R>, _ key: String) throws -> R? {
        try key.withBytes { try get(table, rawKey: $0) }
    }

    /// The record stored under a binary key, or nil.
    public func get<R>(_ table: Table<R>, rawKey: [UInt8]) throws -> R? {
        try rawKey.withUnsafeBytes { try get(table, rawKey: $0) }
    }

    func get<R>(_ table: Table<R>, rawKey: UnsafeRawBufferPointer) throws -> R? {
        guard let bytes = try lookup(dbis[table.index], rawKey) else { return nil }
        return try Self.decode(R.self, bytes, table: table.name)
    }

    /// Whether a record is stored under `key`; decodes nothing.
    public func contains<R>(_ table: Table<R>, _ key: String) throws -> Bool {
        try key.withBytes { try lookup(dbis[table.index], $0) != nil }
    }

    /// Whether a value is stored under `key` in a raw table.
    public func contains(_ table: RawTable, _ key: String) throws -> Bool {
        try key.withBytes { try lookup(dbis[table.index], $0) != nil }
    }

    /// The raw value stored under `key` in a raw table, or nil.
    public func get(_ table: RawTable, _ key: String) throws -> [UInt8]? {
        try key.withBytes { key in
            try lookup(dbis[table.index], key).map { Array($0) }
        }
    }

    /// Up to `limit` records in key order, starting after `after` (exclusive) or from the first key.
    public func scan<R>(_ table: Table<R>, after: String? = nil, limit: Int) throws -> [(key: String, value: R)] {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn, dbis[table.index], &cursor))
        defer { mdb_cursor_close(cursor) }
        var results: [(key: String, value: R)] = []
        var key = MDB_val()
        var value = MDB_val()
        var rc: Int32
        // No stored key is longer than `maxKeySize`, so the keys after a longer `after` are
        // exactly those after its first `maxKeySize` bytes; an empty `after` starts at the first.
        var startBytes = Array((after ?? "").utf8.prefix(Store.maxKeySize))
        if !startBytes.isEmpty {
            rc = startBytes.withUnsafeMutableBytes { buffer in
                key = MDB_val(mv_size: buffer.count, mv_data: buffer.baseAddress)
                return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
            }
            if rc == 0, Self.bytes(key).elementsEqual(startBytes) {
                rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
            }
        } else {
            rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
        }
        while rc == 0, results.count < limit {
            let name = String(decoding: Self.bytes(key), as: UTF8.self)
            results.append((name, try Self.decode(R.self, Self.bytes(value), table: table.name)))
            rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        }
        if rc != 0, rc != MDB_NOTFOUND { try check(rc) }
        startBytes.removeAll()
        return results
    }

    /// How many entries a table holds.
    public func count<R>(_ table: Table<R>) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(txn, dbis[table.index], &stat))
        return Int(stat.ms_entries)
    }

    func lookup(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer? {
        // No record can be stored under a key LMDB refuses, so looking one up finds nothing.
        guard Store.isValidKey(key) else { return nil }
        var keyVal = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var value = MDB_val()
        let rc = mdb_get(txn, dbi, &keyVal, &value)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc)
        return Self.bytes(value)
    }

    static func bytes(_ val: MDB_val) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: val.mv_data, count: val.mv_size)
    }

    static func decode<R: StoreRecord>(_ type: R.Type, _ bytes: UnsafeRawBufferPointer, table: String) throws -> R {
        do {
            return try R(storeBytes: bytes)
        } catch {
            throw StoreError(.corrupt, "a value in table '\(table)' could not be decoded: \(error)")
        }
    }
}

/// A write view of the store inside one batched write; every change commits or none does.
public struct WriteTransaction {
    let txn: OpaquePointer
    let dbis: DatabaseHandles

    /// Reads see this transaction's own earlier writes.
    public var reader: ReadTransaction { ReadTransaction(txn: txn, dbis: dbis) }

    public func get<R>(_ table: Table<R>, _ key: String) throws -> R? { try reader.get(table, key) }
    public func get<R>(_ table: Table<R>, rawKey: [UInt8]) throws -> R? { try reader.get(table, rawKey: rawKey) }
    public func get(_ table: RawTable, _ key: String) throws -> [UInt8]? { try reader.get(table, key) }
    public func contains<R>(_ table: Table<R>, _ key: String) throws -> Bool { try reader.contains(table, key) }
    public func contains(_ table: RawTable, _ key: String) throws -> Bool { try reader.contains(table, key) }

    public func put<R>(_ table: Table<R>, _ key: String, _ record: R) throws {
        try key.withBytes { try put(dbis[table.index], $0, try record.storeBytes()) }
    }

    public func put<R>(_ table: Table<R>, rawKey: [UInt8], _ record: R) throws {
        try rawKey.withUnsafeBytes { try put(dbis[table.index], $0, try record.storeBytes()) }
    }

    public func put(_ table: RawTable, _ key: String, _ value: [UInt8]) throws {
        try key.withBytes { try put(dbis[table.index], $0, value) }
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func delete<R>(_ table: Table<R>, _ key: String) throws -> Bool {
        try key.withBytes { try delete(dbis[table.index], $0) }
    }

    @discardableResult
    public func delete<R>(_ table: Table<R>, rawKey: [UInt8]) throws -> Bool {
        try rawKey.withUnsafeBytes { try delete(dbis[table.index], $0) }
    }

    func put(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer, _ value: [UInt8]) throws {
        guard Store.isValidKey(key) else {
            throw StoreError(.invalidKey, "a key must be 1 to \(Store.maxKeySize) bytes; this one is \(key.count)")
        }
        var keyVal = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        try value.withUnsafeBytes { value in
            var val = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
            try check(mdb_put(txn, dbi, &keyVal, &val, 0))
        }
    }

    func delete(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer) throws -> Bool {
        guard Store.isValidKey(key) else { return false }
        var keyVal = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(txn, dbi, &keyVal, nil)
        if rc == MDB_NOTFOUND { return false }
        try check(rc)
        return true
    }
}

/// Maps an LMDB return code to a `StoreError`.
func check(_ rc: Int32) throws {
    guard rc != 0 else { return }
    throw storeError(rc)
}

func storeError(_ rc: Int32) -> StoreError {
    if rc == MDB_MAP_FULL {
        return StoreError(.mapFull, "the store is full (MDB_MAP_FULL): restart with a larger --map-size")
    }
    return StoreError(.io, String(cString: mdb_strerror(rc)))
}

extension String {
    /// The key's UTF-8 bytes, without a copy where the string is native.
    ///
    /// Borrowed where the storage is contiguous: `withUTF8` mutates, so calling it retains the
    /// string, and a key such as a cached token's `jti` is shared by every event loop.
    func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        if let result = try utf8.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        var copy = self
        return try copy.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }
}
