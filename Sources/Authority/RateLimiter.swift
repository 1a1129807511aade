import Synchronization

/// Per-client request rates (`rate_limits.requests_per_minute`), one counter per client shared
/// by both doors.
///
/// GCRA, a token bucket kept as one time per client (its "theoretical arrival time"): a client
/// limited to N a minute may send N requests at once, then one every 60/N seconds; the request
/// after a burst of N within a minute is refused, and told when the next one will pass. A refused
/// request costs nothing.
///
/// Memory: an entry whose time has passed means "bucket full" and is dropped, so only clients
/// limited and active in the last minute are kept; past `budget` bytes a shard forgets what it
/// holds (the limit fails open for a minute rather than growing without bound).
final class RateLimiter: Sendable {
    /// A client's theoretical arrival time (ns since the epoch), and whether the periodic flush
    /// to the store still has to write it.
    struct Entry {
        var arrival: Int64
        var isDirty: Bool
    }

    /// One shard: client_id → entry. One dictionary lookup per request, under the lock: with one
    /// hot client both event loops take this lock, so the less done under it the better.
    struct Shard {
        var entries: [String: Entry] = [:]
        var bytes = 0
    }

    /// A shard behind its own lock (a `Mutex` cannot sit in an array).
    final class LockedShard: Sendable {
        let state = Mutex(Shard())
    }

    static let shardCount = 16
    static let budget = 16 << 20
    private static let entryCost = 96
    private let shards = (0..<shardCount).map { _ in LockedShard() }

    private func shard(_ clientID: String) -> LockedShard {
        shards[Int(UInt(bitPattern: clientID.hashValue) % UInt(Self.shardCount))]
    }

    /// Counts one request of `clientID`, limited to `perMinute`, at `now` (ns); nil when it may
    /// proceed, else the nanoseconds until one would.
    func admit(_ clientID: String, perMinute: Int64, now: Int64) -> Int64? {
        let interval = 60_000_000_000 / max(perMinute, 1)
        let tolerance = interval * (max(perMinute, 1) - 1)
        return shard(clientID).state.withLock { shard -> Int64? in
            let count = shard.entries.count
            // A new entry starts at `now`, which always passes.
            let wait = Self.step(
                &shard.entries[clientID, default: Entry(arrival: now, isDirty: false)], now: now, interval: interval,
                tolerance: tolerance)
            if shard.entries.count > count {
                shard.bytes += Self.entryCost + clientID.utf8.count
                if shard.bytes > Self.budget / Self.shardCount { Self.prune(&shard, now: now, force: true) }
            }
            return wait
        }
    }

    /// GCRA: nil and the time moved on when a request passes, else the wait.
    private static func step(_ entry: inout Entry, now: Int64, interval: Int64, tolerance: Int64) -> Int64? {
        let arrival = max(entry.arrival, now)
        if arrival - now > tolerance { return arrival - tolerance - now }
        entry.arrival = arrival + interval
        entry.isDirty = true
        return nil
    }

    /// The entries changed since the last call, for the store; drops the ones that have lapsed.
    func takeChanges(now: Int64) -> [(clientID: String, arrival: Int64)] {
        var changes: [(String, Int64)] = []
        for shard in shards {
            shard.state.withLock { shard in
                for (clientID, entry) in shard.entries where entry.isDirty {
                    changes.append((clientID, entry.arrival))
                }
                Self.prune(&shard, now: now, force: false)
            }
        }
        return changes
    }

    /// How many clients it holds a time for.
    var entryCount: Int { shards.reduce(0) { total, shard in total + shard.state.withLock { $0.entries.count } } }

    /// Restores a client's time read back from the store at start.
    func restore(_ clientID: String, arrival: Int64, now: Int64) {
        guard arrival > now else { return }
        shard(clientID).state.withLock { shard in
            if shard.entries.updateValue(Entry(arrival: arrival, isDirty: false), forKey: clientID) == nil {
                shard.bytes += Self.entryCost + clientID.utf8.count
            }
        }
    }

    /// Forgets a deleted client.
    func forget(_ clientID: String) {
        shard(clientID).state.withLock { shard in
            if shard.entries.removeValue(forKey: clientID) != nil {
                shard.bytes -= Self.entryCost + clientID.utf8.count
            }
        }
    }

    /// Drops lapsed entries and marks the rest written; `force` empties the shard when dropping
    /// is not enough. Called with the changes taken (or, forced, to stay within the budget).
    private static func prune(_ shard: inout Shard, now: Int64, force: Bool) {
        var kept: [String: Entry] = [:]
        kept.reserveCapacity(shard.entries.count)
        var bytes = 0
        for (clientID, entry) in shard.entries where entry.arrival > now {
            // A forced prune keeps the dirty marks: only `takeChanges` clears them.
            kept[clientID] = Entry(arrival: entry.arrival, isDirty: force && entry.isDirty)
            bytes += entryCost + clientID.utf8.count
        }
        shard.entries = kept
        shard.bytes = bytes
        if force, shard.bytes > budget / shardCount * 3 / 4 {
            shard.entries.removeAll()
            shard.bytes = 0
        }
    }
}
