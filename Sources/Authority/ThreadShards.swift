import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// State split into shards by thread: each event loop works on its own shard under a lock no
/// other thread takes (counters, a cache of copies it owns), and a reader goes over them all.
///
/// A thread gets its ordinal on first use of any `ThreadShards`, in turn, so the first `count`
/// threads never share a shard (hashing thread ids let two event loops collide, or land on
/// neighbouring shards, by the luck of where their stacks were mapped). Each shard is padded past two cache lines, so two threads'
/// shards never share a line: a shared line costs nearly what a shared lock does.
public final class ThreadShards<State>: Sendable {
    public final class Shard: Sendable {
        public let state: Mutex<State>
        /// Keeps the next shard's header and lock off this one's cache lines.
        private let padding:
            (
                UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                UInt64
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

        init(_ state: sending State) {
            self.state = Mutex(state)
        }
    }

    public let all: [Shard]

    public init(count: Int = 16, _ make: () -> sending State) {
        all = (0..<max(1, count)).map { _ in Shard(make()) }
    }

    /// The calling thread's shard.
    public var current: Shard { all[ThreadOrdinal.current % all.count] }
}

/// A small number per thread, handed out in order of first use.
enum ThreadOrdinal {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        // Without a key nothing can be sharded by thread; this fails only when the process has
        // used up PTHREAD_KEYS_MAX keys, which this server never does.
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()
    private static let next = Atomic<Int>(0)

    static var current: Int {
        // The stored value is the ordinal plus one, so that nil means "not yet given".
        if let stored = pthread_getspecific(key) { return Int(bitPattern: stored) - 1 }
        let ordinal = next.add(1, ordering: .relaxed).oldValue
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: ordinal + 1))
        return ordinal
    }
}
