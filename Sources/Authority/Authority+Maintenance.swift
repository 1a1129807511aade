import Store

extension Authority {
    /// Deletes records kept only until a token expires — revoked-token ids, used assertion ids,
    /// deleted clients — once it has: past `exp` the token is refused anyway, so the record only
    /// costs space. Also deletes audit events and client versions older than the audit retention
    /// (none while the audit log is off), usage hours older than 7 days, and the people flows'
    /// expired records: codes, grants, refresh tokens, sessions, pushed requests, device and user
    /// codes; and clients registered at /register that went unused for `--registration-ttl`.
    /// Returns how many were removed.
    ///
    /// Each call reads at most `limit` records per table, continuing where the previous call
    /// stopped and wrapping around at the end, so one call never holds the writer long; the
    /// server calls it periodically.
    @discardableResult
    public func purgeExpired(limit: Int = 10_000) async throws -> Int {
        let now = clock.now()
        let cursors = purgeCursors.withLock { $0 }
        func expired<R>(_ table: Table<R>, after: String?, _ expiresAt: (R) -> Int64) throws -> (
            keys: [String], next: String?
        ) {
            let rows = try read { try $0.scan(table, after: after, limit: limit) }
            return (rows.filter { expiresAt($0.value) <= now }.map(\.key), rows.count == limit ? rows.last?.key : nil)
        }
        let revoked = try expired(Keyspace.revokedTokens, after: cursors.revoked) { $0.expiresAt }
        let assertions = try expired(Keyspace.usedAssertions, after: cursors.assertions) { $0.expiresAt }
        let deleted = try expired(Keyspace.deletedClients, after: cursors.deletedClients) { $0.expiresAt }
        // While the audit log is off nothing is kept, and what was kept before stays.
        let retention = auditRetention > 0 ? auditRetention : Int64.max / 2
        let versions = try expired(Keyspace.clientHistory, after: cursors.history) { $0.time / 1000 + retention }
        let usage = try expired(Keyspace.usage, after: cursors.usage) { $0.hour + 3600 + Self.usageRetention }
        // The people flows' tables: each row says when it expires.
        var flowCursors: [String: String] = [:]
        var flowDeletions: [@Sendable (WriteTransaction) throws -> Int] = []
        func purge<R: StoreRecord>(_ table: Table<R>, _ expiresAt: (R) -> Int64) throws {
            let found = try expired(table, after: cursors.flows[table.name], expiresAt)
            flowCursors[table.name] = found.next
            let keys = found.keys
            guard !keys.isEmpty else { return }
            flowDeletions.append { txn in try keys.reduce(0) { $0 + (try txn.delete(table, $1) ? 1 : 0) } }
        }
        try purge(Keyspace.authorizationCodes) { $0.expiresAt }
        try purge(Keyspace.grants) { $0.expiresAt }
        try purge(Keyspace.refreshTokens) { $0.expiresAt }
        try purge(Keyspace.sessions) { $0.expiresAt }
        try purge(Keyspace.pushedRequests) { $0.expiresAt }
        try purge(Keyspace.deviceCodes) { $0.expiresAt }
        try purge(Keyspace.userCodes) { $0.expiresAt }
        try purge(Keyspace.registrationTokens) { $0.expiresAt }
        let deletions = flowDeletions
        // Registered clients unused for --registration-ttl are deleted as an admin would.
        let registrations = try expired(Keyspace.registrations, after: cursors.flows[Keyspace.registrations.name]) {
            max($0.registeredAt, $0.lastUsedAt) + registrationPolicy.unusedLifetime
        }
        flowCursors[Keyspace.registrations.name] = registrations.next
        if !registrations.keys.isEmpty {
            try await removeClients(registrations.keys, by: .inProcess)
        }
        // Audit keys are in time order: the old ones are the first.
        let events = try read { try $0.scan(Keyspace.audit, limit: limit) }.prefix {
            $0.value.time / 1000 + retention <= now
        }
        .map(\.key)
        purgeCursors.withLock {
            $0 = PurgeCursors(
                revoked: revoked.next, assertions: assertions.next, deletedClients: deleted.next,
                history: versions.next,
                usage: usage.next, flows: flowCursors)
        }
        let others = versions.keys.count + usage.keys.count + events.count
        guard
            !revoked.keys.isEmpty || !assertions.keys.isEmpty || !deleted.keys.isEmpty || others > 0
                || !deletions.isEmpty
        else {
            return registrations.keys.count
        }
        let (removed, removedDeleted) = try await write { txn in
            var removed = 0
            var removedDeleted = 0
            for key in revoked.keys where try txn.delete(Keyspace.revokedTokens, key) { removed += 1 }
            for key in assertions.keys where try txn.delete(Keyspace.usedAssertions, key) { removed += 1 }
            for key in versions.keys where try txn.delete(Keyspace.clientHistory, key) { removed += 1 }
            for key in usage.keys where try txn.delete(Keyspace.usage, key) { removed += 1 }
            for key in events where try txn.delete(Keyspace.audit, key) { removed += 1 }
            for deletion in deletions { removed += try deletion(txn) }
            for key in deleted.keys where try txn.delete(Keyspace.deletedClients, key) { removedDeleted += 1 }
            return (removed + removedDeleted, removedDeleted)
        }
        deletedClientRecords.subtract(removedDeleted, ordering: .sequentiallyConsistent)
        return removed + registrations.keys.count
    }
}

/// Where the next `purgeExpired` pass starts in each table.
struct PurgeCursors: Sendable {
    var revoked: String?
    var assertions: String?
    var deletedClients: String?
    var history: String?
    var usage: String?
    /// The people flows' tables, by table name.
    var flows: [String: String] = [:]
}
