import Synchronization

/// Slows password guessing (RFC 6749 §10.10): failed sign-ins are counted per username and per
/// client address, and past a few, each key is locked for a time that doubles with every further
/// failure, up to `maxLock`. A quiet `window` forgets a key's failures.
///
/// Bounded: at most `capacity` keys. When full, forgotten keys go first, then those with the
/// fewest failures, so that flooding the table with new keys cannot free a locked one.
final class LoginThrottle: Sendable {
    struct Policy: Sendable {
        /// Failures allowed before a key is locked.
        var freeFailures: Int
        /// The first lock, doubled with each further failure.
        var firstLock: Int64
    }

    static let perUser = Policy(freeFailures: 5, firstLock: 30)
    static let perAddress = Policy(freeFailures: 20, firstLock: 30)
    static let maxLock: Int64 = 900
    static let window: Int64 = 900
    static let capacity = 65_536

    private struct Entry {
        var failures: Int
        var lastFailure: Int64
        var lockedUntil: Int64
    }

    private let entries = Mutex([String: Entry]())

    /// Seconds until `key` may try again; 0 when it may try now.
    func wait(_ key: String, now: Int64) -> Int64 {
        entries.withLock { entries in
            guard let entry = entries[key] else { return 0 }
            return max(0, entry.lockedUntil - now)
        }
    }

    func recordFailure(_ key: String, policy: Policy, now: Int64) {
        entries.withLock { entries in
            var entry = entries[key] ?? Entry(failures: 0, lastFailure: now, lockedUntil: 0)
            if now - entry.lastFailure > Self.window, entry.lockedUntil <= now { entry.failures = 0 }
            entry.failures += 1
            entry.lastFailure = now
            if entry.failures > policy.freeFailures {
                let doublings = min(entry.failures - policy.freeFailures - 1, 10)
                entry.lockedUntil = now + min(Self.maxLock, policy.firstLock << doublings)
            }
            if entries[key] == nil, entries.count >= Self.capacity { Self.makeRoom(&entries, now: now) }
            entries[key] = entry
        }
    }

    /// A successful sign-in forgets the user's failures (not the address's).
    func recordSuccess(_ key: String) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }

    private static func makeRoom(_ entries: inout [String: Entry], now: Int64) {
        entries = entries.filter { now - $0.value.lastFailure <= window || $0.value.lockedUntil > now }
        guard entries.count >= capacity else { return }
        let fewest = entries.values.map(\.failures).min() ?? 0
        entries = entries.filter { $0.value.failures > fewest }
    }
}
