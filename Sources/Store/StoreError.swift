/// A failure of the embedded store, with a code callers map to a wire or HTTP status.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Wrapped: String { case mapFull, locked, io, corrupt, closed, invalidKey }
        let wrapped: Wrapped
        public var description: String { wrapped.rawValue }

        /// The map size is exhausted: the store can take no more data until `--map-size` grows.
        public static let mapFull = Code(wrapped: .mapFull)
        /// Another process holds the data directory.
        public static let locked = Code(wrapped: .locked)
        /// The operating system or LMDB reported an error.
        public static let io = Code(wrapped: .io)
        /// A stored value could not be decoded.
        public static let corrupt = Code(wrapped: .corrupt)
        /// The store was closed.
        public static let closed = Code(wrapped: .closed)
        /// A key is empty or longer than `Store.maxKeySize`: the caller's input, never stored.
        public static let invalidKey = Code(wrapped: .invalidKey)
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "store error (\(code)): \(message)" }
}
