import Store

extension Authority {
    /// Brings a store written by an older Authsec up to `Keyspace.schemaVersion`, one version at a
    /// time, each step in one durable write (all of it or none). Returns the versions it applied.
    ///
    /// Tables a version adds are created when the store opens; a step only rewrites records.
    /// `sealingKey` seals the secrets a step moves under the master key (2 → 3: the signing keys);
    /// a store that has none yet may be migrated with a new master key, which then becomes its own.
    /// - Throws: `failed_precondition` for an uninitialized store or one from a newer Authsec.
    @discardableResult
    public static func migrate(
        _ store: Store, sealingKey: SealingKey, clock: any WallClock = SystemClock()
    ) async throws -> [UInt32] {
        var applied: [UInt32] = []
        while true {
            let version = try store.read { txn -> UInt32 in
                guard let bytes = try txn.get(Keyspace.meta, "schema_version") else {
                    throw AuthorityError(.failedPrecondition, "the data directory is not initialized")
                }
                return decodeVersion(bytes)
            }
            if version == Keyspace.schemaVersion { return applied }
            guard version < Keyspace.schemaVersion, let step = migrations[version] else {
                throw AuthorityError(
                    .failedPrecondition,
                    "the data directory has schema version \(version); this Authsec reads up to \(Keyspace.schemaVersion)"
                )
            }
            let context = MigrationContext(now: clock.now(), sealingKey: sealingKey)
            try await store.write { txn in
                // Another migrator (there is none in one process, but be exact) may have run it.
                guard let bytes = try txn.get(Keyspace.meta, "schema_version"), decodeVersion(bytes) == version else {
                    return
                }
                try step(txn, context)
                try txn.put(Keyspace.meta, "schema_version", encode(version + 1))
            }
            applied.append(version + 1)
        }
    }

    /// What a migration step may use besides the transaction.
    struct MigrationContext: Sendable {
        let now: Int64
        let sealingKey: SealingKey
    }

    /// Step `n` turns a version-`n` store into version `n + 1`.
    static let migrations: [UInt32: @Sendable (WriteTransaction, MigrationContext) throws -> Void] = [
        1: { txn, context in
            let now = context.now
            // The built-in scope authsec:introspect, held (with every management scope) by the
            // client `init` made. Version 1 did not record its id: it is the `admin-` client.
            try putBuiltInScopes(txn, now: now)
            for (clientID, var record) in try txn.reader.scan(Keyspace.clients, after: "admin-", limit: 1000)
            where clientID.hasPrefix("admin-") && clientID.utf8.count == 18 {
                guard Set(Scopes.management).isSubset(of: record.allowedScopes) else { continue }
                if !record.allowedScopes.contains(Scopes.introspectAny) {
                    record.allowedScopes.append(Scopes.introspectAny)
                    try txn.put(Keyspace.clients, clientID, record)
                }
                if try txn.get(Keyspace.meta, "admin_client_id") == nil {
                    try txn.put(Keyspace.meta, "admin_client_id", Array(clientID.utf8))
                }
            }
        },
        2: { txn, context in
            // Keys at rest: every raw signing key is sealed with the master key and its raw bytes
            // cleared. LMDB does not scrub the pages it frees, so the server compacts data.mdb
            // after this step (`Store.compact`); older backups still hold the raw keys, which is
            // why the README advises a `keys rotate` after this upgrade.
            for (kid, var record) in try txn.reader.scan(Keyspace.signingKeys, limit: .max)
            where !record.privateKey.isEmpty {
                try KeyRing.seal(record.privateKey, into: &record, with: context.sealingKey)
                try txn.put(Keyspace.signingKeys, kid, record)
            }
        },
    ]

    /// Registers every built-in scope that is missing.
    static func putBuiltInScopes(_ txn: WriteTransaction, now: Int64) throws {
        for (name, description) in Scopes.builtIn where try txn.get(Keyspace.scopes, name) == nil {
            var scope = Authsec_Store_V1_ScopeRecord()
            scope.name = name
            scope.description_p = description
            scope.createdAt = now
            try txn.put(Keyspace.scopes, name, scope)
        }
    }

    static func decodeVersion(_ bytes: [UInt8]) -> UInt32 {
        bytes.count == 4 ? bytes.reduce(0) { $0 << 8 | UInt32($1) } : 0
    }
}
