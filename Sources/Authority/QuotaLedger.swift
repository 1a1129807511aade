import Synchronization

/// Each client's spend of model tokens today, against its `rate_limits.tokens_per_day`.
///
/// Charges are decided here, in memory, under one lock per shard, so concurrent charges never
/// overspend: a charge that would pass the budget is refused whole. The store keeps a copy,
/// written at most a flush interval later (`takeChanges`); a client whose spend is not in memory
/// is read back from it before its first charge (`load`), so entries idle and flushed can be
/// dropped and memory follows the clients charged recently, not every client ever charged.
final class QuotaLedger: Sendable {
    struct Entry {
        var day: Int64
        var spent: Int64
        /// Changed since the last flush.
        var isDirty: Bool
        /// When it was last charged (seconds), for dropping idle entries.
        var lastUsed: Int64
    }

    final class LockedShard: Sendable {
        let entries = Mutex<[String: Entry]>([:])
    }

    /// What a charge decided.
    struct Outcome: Equatable {
        let allowed: Bool
        /// Spent today, after the charge if it was allowed.
        let spent: Int64
    }

    static let shardCount = 16
    /// A flushed entry unused this long is dropped (it is read back from the store if needed).
    static let idleSeconds: Int64 = 120
    private let shards = (0..<shardCount).map { _ in LockedShard() }

    private func shard(_ clientID: String) -> LockedShard {
        shards[Int(UInt(bitPattern: clientID.hashValue) % UInt(Self.shardCount))]
    }

    /// Whether the ledger holds `clientID`'s spend for `day` (else call `load` first).
    func holds(_ clientID: String, day: Int64) -> Bool {
        shard(clientID).entries.withLock { $0[clientID]?.day == day }
    }

    /// Puts the stored spend of `clientID` for `day` in memory, unless a newer one is there.
    func load(_ clientID: String, day: Int64, spent: Int64, now: Int64) {
        shard(clientID).entries.withLock { entries in
            if let entry = entries[clientID], entry.day >= day { return }
            entries[clientID] = Entry(day: day, spent: spent, isDirty: false, lastUsed: now)
        }
    }

    /// Charges `amount` to `clientID` for `day` if it fits in `budget`; else charges nothing.
    /// The caller has `load`ed the client's stored spend for `day`.
    func charge(_ clientID: String, amount: Int64, budget: Int64, day: Int64, now: Int64) -> Outcome {
        shard(clientID).entries.withLock { entries in
            var entry = entries[clientID] ?? Entry(day: day, spent: 0, isDirty: false, lastUsed: now)
            if entry.day != day { entry = Entry(day: day, spent: 0, isDirty: true, lastUsed: now) }
            entry.lastUsed = now
            guard amount <= budget - entry.spent else {
                entries[clientID] = entry
                return Outcome(allowed: false, spent: entry.spent)
            }
            entry.spent += amount
            entry.isDirty = true
            entries[clientID] = entry
            return Outcome(allowed: true, spent: entry.spent)
        }
    }

    /// The spend of `clientID` on `day` held in memory, if any.
    func spent(_ clientID: String, day: Int64) -> Int64? {
        shard(clientID).entries.withLock { entries in
            guard let entry = entries[clientID], entry.day == day else { return nil }
            return entry.spent
        }
    }

    /// The entries changed since the last call, marked clean. Drops the entries that were
    /// already clean (their spend is stored) and are idle for `idleSeconds` or of a day before `day`.
    func takeChanges(day: Int64, now: Int64) -> [(clientID: String, day: Int64, spent: Int64)] {
        var changes: [(String, Int64, Int64)] = []
        for shard in shards {
            shard.entries.withLock { entries in
                entries = entries.filter { _, entry in
                    entry.isDirty || (entry.day >= day && now - entry.lastUsed < Self.idleSeconds)
                }
                for (clientID, entry) in entries where entry.isDirty {
                    changes.append((clientID, entry.day, entry.spent))
                    entries[clientID]?.isDirty = false
                }
            }
        }
        return changes
    }

    /// Gives back changes whose flush failed, so the next flush writes them again.
    func markDirty(_ changes: [(clientID: String, day: Int64, spent: Int64)]) {
        for change in changes {
            shard(change.clientID).entries.withLock { entries in
                if let entry = entries[change.clientID] {
                    if entry.day == change.day { entries[change.clientID]?.isDirty = true }
                } else {
                    entries[change.clientID] = Entry(
                        day: change.day, spent: change.spent, isDirty: true, lastUsed: Int64.min / 2)
                }
            }
        }
    }

    /// Forgets a deleted client.
    func forget(_ clientID: String) {
        _ = shard(clientID).entries.withLock { $0.removeValue(forKey: clientID) }
    }

    var entryCount: Int { shards.reduce(0) { total, shard in total + shard.entries.withLock { $0.count } } }
}
