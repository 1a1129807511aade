/// A value the store can keep. The store knows it only as bytes; what the bytes mean (the
/// records, their schema) belongs to the store's user.
public protocol StoreRecord: Sendable {
    /// Decodes a record from `bytes`, which are valid only during the call (LMDB's memory map).
    init(storeBytes bytes: UnsafeRawBufferPointer) throws
    /// The record's bytes.
    func storeBytes() throws -> [UInt8]
}

/// A named database whose values are records of one type.
public struct Table<Record: StoreRecord>: Sendable {
    public let name: String
    let index: Int
}

/// A named database of raw bytes.
public struct RawTable: Sendable {
    public let name: String
    let index: Int
}

/// The named databases of a store, declared once by its user; the store opens each at start.
public struct Schema: Sendable {
    /// Table names in the order the store opens them; a table's index is its place here.
    public let tableNames: [String]

    public init(tableNames: [String]) {
        self.tableNames = tableNames
    }

    /// The table called `name`.
    ///
    /// A name missing from `tableNames` is a mistake in the schema's own declaration (static
    /// constants, checked by the first test that opens a store), never a caller's input.
    public func table<Record>(_ name: String, of _: Record.Type = Record.self) -> Table<Record> {
        Table(name: name, index: index(of: name))
    }

    public func rawTable(_ name: String) -> RawTable {
        RawTable(name: name, index: index(of: name))
    }

    private func index(of name: String) -> Int {
        guard let index = tableNames.firstIndex(of: name) else {
            preconditionFailure("table '\(name)' is not declared in the schema")
        }
        return index
    }
}
