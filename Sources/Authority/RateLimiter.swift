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
    /// One shard: client_id → theoretical arrival time (ns since the epoch), and dirty marks for
    /// the periodic flush to the store.
    struct Shard {
        var arrivals: [String: Int64] = [:]
        var changed: Set<String> = []
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
            let arrival = max(shard.arrivals[clientID] ?? now, now)
            if arrival - now > tolerance { return arrival - tolerance - now }
            if shard.arrivals.updateValue(arrival + interval, forKey: clientID) == nil {
                shard.bytes += Self.entryCost + clientID.utf8.count
                if shard.bytes > Self.budget / Self.shardCount { Self.prune(&shard, now: now, force: true) }
            }
            shard.changed.insert(clientID)
            return nil
        }
    }

    /// The entries changed since the last call, for the store; drops the ones that have lapsed.
    func takeChanges(now: Int64) -> [(clientID: String, arrival: Int64)] {
        var changes: [(String, Int64)] = []
        for shard in shards {
            shard.state.withLock { shard in
                for clientID in shard.changed {
                    if let arrival = shard.arrivals[clientID] { changes.append((clientID, arrival)) }
                }
                shard.changed.removeAll(keepingCapacity: true)
                Self.prune(&shard, now: now, force: false)
            }
        }
        return changes
    }

    /// How many clients it holds a time for.
    var entryCount: Int { shards.reduce(0) { total, shard in total + shard.state.withLock { $0.arrivals.count } } }

    /// Restores a client's time read back from the store at start.
    func restore(_ clientID: String, arrival: Int64, now: Int64) {
        guard arrival > now else { return }
        shard(clientID).state.withLock { shard in
            if shard.arrivals.updateValue(arrival, forKey: clientID) == nil {
                shard.bytes += Self.entryCost + clientID.utf8.count
            }
        }
    }

    /// Forgets a deleted client.
    func forget(_ clientID: String) {
        shard(clientID).state.withLock { shard in
            if shard.arrivals.removeValue(forKey: clientID) != nil {
                shard.bytes -= Self.entryCost + clientID.utf8.count
            }
            shard.changed.remove(clientID)
        }
    }

    /// Drops lapsed entries; `force` empties the shard when that is not enough.
    private static func prune(_ shard: inout Shard, now: Int64, force: Bool) {
        shard.arrivals = shard.arrivals.filter { $0.value > now }
        shard.bytes = shard.arrivals.reduce(0) { $0 + entryCost + $1.key.utf8.count }
        if force, shard.bytes > budget / shardCount * 3 / 4 {
            shard.arrivals.removeAll()
            shard.changed.removeAll()
            shard.bytes = 0
        }
    }
}
