import Synchronization

/// Requests the doors have answered, counted per thread without a lock: how password hashing sees
/// that requests are flowing, so as to leave them a core (`BackgroundThreads`).
public final class RequestFlow: Sendable {
    /// The process's count: the doors add to it, and the hashing threads every hasher shares read it.
    public static let shared = RequestFlow()

    private let slots: [Slot]

    init(slots: Int = 16) {
        self.slots = (0..<max(1, slots)).map { _ in Slot() }
    }

    /// Counts one answered request: a relaxed addition on a cache line of the calling thread's own.
    public func count() {
        slots[ThreadOrdinal.current % slots.count].value.add(1, ordering: .relaxed)
    }

    /// Every request counted so far.
    public var total: UInt64 {
        slots.reduce(0) { $0 &+ $1.value.load(ordering: .relaxed) }
    }

    private final class Slot: Sendable {
        let value = Atomic<UInt64>(0)
        /// Keeps the next slot's counter more than two cache lines away, as `ThreadShards` pads its
        /// shards: a line two threads write to costs nearly what a shared lock does.
        private let padding:
            (
                UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                UInt64, UInt64, UInt64
            ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    }
}
