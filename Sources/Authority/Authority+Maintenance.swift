import Store

extension Authority {
    /// Deletes revoked-token ids and used assertion ids whose tokens have expired: past `exp` the
    /// token is refused anyway, so the record only costs space. Returns how many were removed.
    ///
    /// Each call reads at most `limit` records per table, continuing where the previous call
    /// stopped and wrapping around at the end, so one call never holds the writer long; the
    /// server calls it periodically.
    @discardableResult
    public func purgeExpired(limit: Int = 10_000) async throws -> Int {
        let now = clock.now()
        let cursors = purgeCursors.withLock { $0 }
        let (revoked, assertions) = try read { txn in
            (
                try txn.scan(Keyspace.revokedTokens, after: cursors.revoked, limit: limit),
                try txn.scan(Keyspace.usedAssertions, after: cursors.assertions, limit: limit)
            )
        }
        purgeCursors.withLock {
            $0.revoked = revoked.count == limit ? revoked.last?.key : nil
            $0.assertions = assertions.count == limit ? assertions.last?.key : nil
        }
        let expiredRevoked = revoked.filter { $0.value.expiresAt <= now }.map(\.key)
        let expiredAssertions = assertions.filter { $0.value.expiresAt <= now }.map(\.key)
        guard !expiredRevoked.isEmpty || !expiredAssertions.isEmpty else { return 0 }
        return try await write { txn in
            var removed = 0
            for key in expiredRevoked where try txn.delete(Keyspace.revokedTokens, key) { removed += 1 }
            for key in expiredAssertions where try txn.delete(Keyspace.usedAssertions, key) { removed += 1 }
            return removed
        }
    }
}

/// Where the next `purgeExpired` pass starts in each table.
struct PurgeCursors: Sendable {
    var revoked: String?
    var assertions: String?
}
