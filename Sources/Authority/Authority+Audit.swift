import ClientModel
import Store

/// One page of the audit log.
public struct AuditPage: Sendable {
    public let events: [Authsec_V1_AuditEvent]
    /// Where the next read starts (exclusive): the last event read or the point the search reached.
    public let nextAfter: String
    /// Whether more events already wait past `nextAfter`.
    public let more: Bool
}

extension Authority {
    /// At most this many stored events are read for one page, whatever the filters, so a page
    /// with rare matches costs a bounded read and the caller continues from `nextAfter`.
    static let auditScanLimit = 5000

    /// A store key for an event written now: the time of writing (not of the event: an aggregated
    /// event is written up to a second after its second began) and a sequence number, as
    /// fixed-width hex. Keys thus grow in the order events are written, so a reader following
    /// the log with `after` never misses one written behind its cursor.
    func auditEventID() -> String {
        let milliseconds = clock.nanoseconds() / 1_000_000
        let sequence = auditSequence.wrappingAdd(1, ordering: .relaxed).newValue
        return Self.hex(UInt64(max(0, milliseconds)), digits: 12) + Self.hex(UInt64(sequence), digits: 8)
    }

    static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// Writes a management change's event in the change's own transaction: it is durable exactly
    /// when the change is.
    func putAudit(
        _ txn: WriteTransaction, _ type: AuditType, by caller: AdminCaller, clientID: String = "", user: String = "",
        detail: String = ""
    ) throws {
        guard activity.isAuditOn else { return }
        let event = Authsec_V1_AuditEvent.with {
            $0.time = clock.nanoseconds() / 1_000_000
            $0.type = type.rawValue
            $0.outcome = "ok"
            $0.actor = caller.clientID
            $0.clientID = clientID
            $0.door = caller.context.door.rawValue
            $0.peer = caller.context.peer
            $0.count = 1
            $0.detail = detail
            $0.user = user
        }
        try txn.put(Keyspace.audit, auditEventID(), event)
    }

    /// Runs a management operation, keeping a refusal of it in the audit log (its success is
    /// written by the operation itself, with `putAudit`).
    func audited<T>(
        _ type: AuditType, by caller: AdminCaller, clientID: String = "", user: String = "",
        _ operation: () async throws -> T
    ) async throws -> T {
        do {
            return try await operation()
        } catch let error as AuthorityError {
            activity.record(
                .with {
                    $0.time = clock.nanoseconds() / 1_000_000
                    $0.type = type.rawValue
                    $0.outcome = error.code.rawValue
                    $0.actor = caller.clientID
                    $0.clientID = ActivityRecorder.cut(clientID)
                    $0.user = ActivityRecorder.cut(user)
                    $0.door = caller.context.door.rawValue
                    $0.peer = caller.context.peer
                    $0.count = 1
                })
            throw error
        }
    }

    /// Counts a hot-path event into its second's aggregate (and the client's usage, if given).
    func auditCount(
        _ type: AuditType, outcome: String = "ok", actor: String, clientID: String, context: CallContext,
        usage: ((inout ActivityRecorder.UsageCounts) -> Void)? = nil
    ) {
        activity.count(
            type, outcome: outcome, actor: actor, clientID: clientID, context: context, now: clock.now(), usage: usage)
    }

    /// The audit log in the order it was written: events after `after` (exclusive), or written
    /// from `since` on (Unix milliseconds), about or by `clientID` when given, of `type` (or of a
    /// family, `client.`).
    public func auditEvents(after: String?, since: Int64, clientID: String?, type: String?, pageSize: Int) throws
        -> AuditPage
    {
        let size = pageSize <= 0 ? 100 : min(pageSize, 1000)
        if let after, !after.isEmpty, after.utf8.count > 64 {
            throw AuthorityError(.invalidRequest, "after: not an audit event id")
        }
        if let type, type.utf8.count > 64 {
            throw AuthorityError(.invalidRequest, "type: at most 64 characters")
        }
        let start = after.flatMap { $0.isEmpty ? nil : $0 } ?? (since > 0 ? Self.hex(UInt64(since), digits: 12) : nil)
        let rows = try read { try $0.scan(Keyspace.audit, after: start, limit: Self.auditScanLimit + 1) }
        let scanned = rows.prefix(Self.auditScanLimit)
        var events: [Authsec_V1_AuditEvent] = []
        var reached = start ?? ""
        var more = rows.count > scanned.count
        for (key, event) in scanned {
            if events.count == size {
                more = true
                break
            }
            reached = key
            if let clientID, !clientID.isEmpty, event.clientID != clientID, event.actor != clientID { continue }
            if let type, !type.isEmpty {
                let matches = type.hasSuffix(".") ? event.type.hasPrefix(type) : event.type == type
                if !matches { continue }
            }
            var answered = event
            answered.id = key
            events.append(answered)
        }
        return AuditPage(events: events, nextAfter: reached, more: more)
    }

    /// Writes the audit events and usage counts gathered since the last flush. Part of
    /// `flushCounters`, in its transaction.
    func flushActivity(_ txn: WriteTransaction, _ taken: ActivityRecorder.Taken) throws {
        // In time order (aggregates come out of dictionaries), so ids follow the events' times.
        for event in taken.events.sorted(by: { $0.time < $1.time }) {
            try txn.put(Keyspace.audit, auditEventID(), event)
        }
        for (key, counts) in taken.usage {
            let storeKey = Self.usageKey(key.clientID, hour: key.hour)
            let stored = try txn.get(Keyspace.usage, storeKey)
            if stored == nil, var registration = try txn.get(Keyspace.registrations, key.clientID) {
                // A registered client's first use in an hour keeps it from expiring unused.
                registration.lastUsedAt = key.hour * 3600
                try txn.put(Keyspace.registrations, key.clientID, registration)
            }
            var hour = stored ?? .with { $0.hour = key.hour * 3600 }
            hour.tokensIssued += counts.tokensIssued
            hour.introspections += counts.introspections
            hour.refreshes += counts.refreshes
            hour.quotaSpent += counts.quotaSpent
            hour.rateLimited += counts.rateLimited
            try txn.put(Keyspace.usage, storeKey, hour)
        }
    }

    static func usageKey(_ clientID: String, hour: Int64) -> String {
        clientID + " " + hex(UInt64(max(0, hour)), digits: 8)
    }
}
