import ClientModel
import Foundation
import Synchronization

/// Audit events and usage counts gathered in memory between flushes (every second, and at
/// shutdown; `Authority.flushCounters`), so a token request pays a dictionary increment under its
/// thread's lock (one of 16), never a store write. By thread, not by client: the event loops then
/// never share a lock even when one client sends everything (a contended lock cost a hot
/// introspection 7%); `take` adds up what several shards hold for one client.
///
/// Bounded: each shard holds at most `maxEntriesPerShard` pending audit entries and as many usage
/// entries. Past that, audit events are counted as dropped (one `audit.dropped` event tells how
/// many) and usage increments are lost, until the next flush empties the shard.
final class ActivityRecorder: Sendable {
    /// What makes two hot-path events one aggregated event.
    struct AggregateKey: Hashable {
        var second: Int64
        var type: AuditType
        var outcome: String
        var actor: String
        var clientID: String
        var door: CallContext.Door
        var peer: String
    }

    struct UsageKey: Hashable {
        var clientID: String
        /// Unix seconds / 3600.
        var hour: Int64
    }

    struct UsageCounts: Equatable {
        var tokensIssued: UInt64 = 0
        var introspections: UInt64 = 0
        var refreshes: UInt64 = 0
        var quotaSpent: UInt64 = 0
        var rateLimited: UInt64 = 0

        mutating func add(_ other: UsageCounts) {
            tokensIssued += other.tokensIssued
            introspections += other.introspections
            refreshes += other.refreshes
            quotaSpent += other.quotaSpent
            rateLimited += other.rateLimited
        }
    }

    struct Pending {
        var aggregates: [AggregateKey: UInt64] = [:]
        var singles: [Authsec_V1_AuditEvent] = []
        var usage: [UsageKey: UsageCounts] = [:]
        var dropped: UInt64 = 0
    }

    /// What a flush takes: audit events in no particular order, and usage increments.
    struct Taken {
        var events: [Authsec_V1_AuditEvent] = []
        var usage: [(key: UsageKey, counts: UsageCounts)] = []
    }

    static let shardCount = 16
    static let maxEntriesPerShard = 4096
    /// Ids and peers longer than this are cut in audit events (a claimed client id is caller input).
    static let maxFieldLength = 128

    private let shards = ThreadShards(count: shardCount) { Pending() }
    /// Whether audit events are kept (`--audit-retention` 0 turns them off; usage is always counted).
    let isAuditOn: Bool

    init(isAuditOn: Bool) {
        self.isAuditOn = isAuditOn
    }

    /// Counts one hot-path event into its second's aggregate. With the audit log on, the usage
    /// counters of token issuance and rate-limit refusals are derived from these aggregates when
    /// they are taken (one dictionary update per token); `usage` is applied here only when it is off.
    func count(
        _ type: AuditType, outcome: String, actor: String, clientID: String, context: CallContext, now: Int64,
        usage: ((inout UsageCounts) -> Void)? = nil
    ) {
        let clientID = Self.cut(clientID)
        guard isAuditOn else {
            if let usage { addUsage(clientID, now: now, usage) }
            return
        }
        // The actor is most often the client itself: stored empty then, so it costs no hashing.
        let key = AggregateKey(
            second: now, type: type, outcome: outcome, actor: actor == clientID ? "" : Self.cut(actor),
            clientID: clientID, door: context.door, peer: Self.cut(context.peer))
        shards.current.state.withLock { pending in
            if let count = pending.aggregates[key] {
                pending.aggregates[key] = count + 1
            } else if pending.aggregates.count + pending.singles.count < Self.maxEntriesPerShard {
                pending.aggregates[key] = 1
            } else {
                pending.dropped += 1
                if let usage { Self.add(usage, clientID: clientID, now: now, to: &pending) }
            }
        }
    }

    /// The usage an aggregate of `count` events stands for (see `count`).
    private static func usage(of key: AggregateKey, count: UInt64, into counts: inout UsageCounts) {
        switch key.type {
        case .tokenIssue where key.outcome == "ok": counts.tokensIssued += count
        case .rateLimitHit: counts.rateLimited += count
        default: break
        }
    }

    /// Adds to a client's counters of the hour, without an audit event.
    func addUsage(_ clientID: String, now: Int64, _ change: (inout UsageCounts) -> Void) {
        shards.current.state.withLock { Self.add(change, clientID: clientID, now: now, to: &$0) }
    }

    private static func add(
        _ change: (inout UsageCounts) -> Void, clientID: String, now: Int64, to pending: inout Pending
    ) {
        let key = UsageKey(clientID: clientID, hour: now.quotientRoundingDown(by: 3600))
        if pending.usage[key] == nil, pending.usage.count >= maxEntriesPerShard { return }
        change(&pending.usage[key, default: UsageCounts()])
    }

    /// Keeps one event (not aggregated) until the next flush.
    func record(_ event: Authsec_V1_AuditEvent) {
        guard isAuditOn else { return }
        shards.current.state.withLock { pending in
            if pending.aggregates.count + pending.singles.count < Self.maxEntriesPerShard {
                pending.singles.append(event)
            } else {
                pending.dropped += 1
            }
        }
    }

    /// Everything gathered since the last call; the buffers start empty again. Aggregates of one
    /// key counted on several threads (several shards) become one event.
    func take(now: Int64) -> Taken {
        var taken = Taken()
        var dropped: UInt64 = 0
        var aggregates: [AggregateKey: UInt64] = [:]
        var usage: [UsageKey: UsageCounts] = [:]
        for shard in shards.all {
            let pending = shard.state.withLock { pending in
                defer { pending = Pending() }
                return pending
            }
            dropped += pending.dropped
            taken.events += pending.singles
            aggregates.merge(pending.aggregates, uniquingKeysWith: +)
            usage.merge(pending.usage) { first, second in
                var sum = first
                sum.add(second)
                return sum
            }
        }
        for (key, count) in aggregates {
            var counts = UsageCounts()
            Self.usage(of: key, count: count, into: &counts)
            if counts != UsageCounts() {
                usage[
                    UsageKey(clientID: key.clientID, hour: key.second.quotientRoundingDown(by: 3600)),
                    default: UsageCounts()
                ]
                .add(counts)
            }
            taken.events.append(
                .with {
                    $0.time = key.second * 1000
                    $0.type = key.type.rawValue
                    $0.outcome = key.outcome
                    $0.actor = key.actor.isEmpty ? key.clientID : key.actor
                    $0.clientID = key.clientID
                    $0.door = key.door.rawValue
                    $0.peer = key.peer
                    $0.count = count
                })
        }
        taken.usage = usage.map { ($0.key, $0.value) }
        if dropped > 0 {
            taken.events.append(
                .with {
                    $0.time = now * 1000
                    $0.type = AuditType.auditDropped.rawValue
                    $0.outcome = "ok"
                    $0.door = CallContext.Door.local.rawValue
                    $0.count = dropped
                })
        }
        return taken
    }

    static func cut(_ text: String) -> String {
        text.utf8.count <= maxFieldLength ? text : String(decoding: text.utf8.prefix(maxFieldLength), as: UTF8.self)
    }
}
