import ClientModel
import Store

extension Authority {
    /// Brings a store written by an older Authsec up to `Keyspace.schemaVersion`, one version at a
    /// time, each step in one durable write (all of it or none). Returns the versions it applied.
    ///
    /// Tables a version adds are created when the store opens; a step only rewrites records.
    /// `sealingKey` seals the secrets a step moves under the master key (2 → 3: the signing keys);
    /// a store that has none yet may be migrated with a new master key, which then becomes its own.
    /// `target` stops at an earlier version, for tests of one step.
    /// - Throws: `failed_precondition` for an uninitialized store or one from a newer Authsec.
    @discardableResult
    public static func migrate(
        _ store: Store, sealingKey: SealingKey, clock: any WallClock = SystemClock(),
        through target: UInt32 = Keyspace.schemaVersion
    ) async throws -> [UInt32] {
        var applied: [UInt32] = []
        while true {
            let version = try store.read { txn -> UInt32 in
                guard let bytes = try txn.get(Keyspace.meta, "schema_version") else {
                    throw AuthorityError(.failedPrecondition, "the data directory is not initialized")
                }
                return decodeVersion(bytes)
            }
            if version >= target, version <= Keyspace.schemaVersion { return applied }
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
            for (clientID, var record) in try txn.reader.scan(clientRecords, after: "admin-", limit: 1000)
            where clientID.hasPrefix("admin-") && clientID.utf8.count == 18 {
                // Version 1's management scopes: admin:users came with version 6.
                let versionOneManagement = [Scopes.adminClients, Scopes.adminScopes, Scopes.adminKeys]
                guard Set(versionOneManagement).isSubset(of: record.allowedScopes) else { continue }
                if !record.allowedScopes.contains(Scopes.introspectAny) {
                    record.allowedScopes.append(Scopes.introspectAny)
                    try txn.put(clientRecords, clientID, record)
                }
                if try !txn.contains(Keyspace.meta, "admin_client_id") {
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
        3: { txn, _ in
            // One declaration of a client's fields: each ClientRecord becomes a StoredClient
            // holding the authsec.v1.Client message. Every client fits in one write: a store holds
            // thousands, not millions, and the step must be all or nothing.
            for (clientID, record) in try txn.reader.scan(clientRecords, limit: .max) {
                try txn.put(Keyspace.clients, clientID, storedClient(record))
            }
        },
        4: { _, _ in
            // The counter tables (quota_spend, rate_limits) are created when the store opens, and
            // a rate limit stored as 0 was never encoded, so it reads as absent (not limited).
        },
        5: { txn, context in
            // Users: the tables (users, usernames) are created when the store opens. The new
            // reserved scope admin:users is registered and given to the client `init` made, so
            // that the init admin still holds every reserved scope. Only that client: a delegated
            // admin gets it from an admin who holds it, as any reserved scope.
            try putBuiltInScopes(txn, now: context.now)
            guard let id = try txn.get(Keyspace.meta, "admin_client_id") else { return }
            let clientID = String(decoding: id, as: UTF8.self)
            guard var stored = try txn.get(Keyspace.clients, clientID),
                !stored.client.allowedScopes.contains(Scopes.adminUsers)
            else { return }
            stored.client.allowedScopes.append(Scopes.adminUsers)
            stored.client.updatedAt = context.now
            try txn.put(Keyspace.clients, clientID, stored)
        },
        6: { _, _ in
            // audit, client_history and usage are created when the store opens. Clients keep
            // StoredClient.version 0: their first update records the fields they had as version 1.
        },
        7: { txn, _ in
            // authorization_codes, grants, refresh_tokens, sessions and consents start empty;
            // web_origins indexes the clients there are.
            for (clientID, stored) in try txn.reader.scan(Keyspace.clients, limit: .max) {
                try index(txn, Keyspace.webOrigins, clientID: clientID, from: [], to: stored.client.webOrigins)
            }
        },
        8: { txn, _ in
            // Dynamic registration's tables start empty; resource_servers indexes the clients there are.
            for (clientID, stored) in try txn.reader.scan(Keyspace.clients, limit: .max) {
                let client = Client(fields: stored.client)
                try index(txn, Keyspace.resourceServers, clientID: clientID, from: [], to: client.resourceIdentifiers)
            }
        },
    ]

    /// The `clients` table as versions 1 to 3 wrote it.
    static let clientRecords = Keyspace.schema.table("clients", of: Authsec_Store_V1_ClientRecord.self)

    /// A version-3 client record as a version-4 one; `is_admin` was never read and is dropped.
    static func storedClient(_ r: Authsec_Store_V1_ClientRecord) -> Authsec_Store_V1_StoredClient {
        var c = Authsec_V1_Client()
        c.clientID = r.clientID
        c.name = r.name
        c.description_p = r.description_p
        c.appType = r.appType
        c.logo = r.logo
        c.website = r.website
        c.grantTypes = r.grantTypes
        c.tokenEndpointAuthMethod = r.tokenEndpointAuthMethod
        c.callbacks = r.callbacks
        c.webOrigins = r.webOrigins
        c.logoutUrls = r.logoutUrls
        c.allowedScopes = r.allowedScopes
        c.allowedAudiences = r.allowedAudiences
        c.resources = r.resources
        c.disabled = r.disabled
        c.accessTokenLifetime = r.accessTokenLifetime
        c.refreshTokenLifetime = r.refreshTokenLifetime
        c.idTokenLifetime = r.idTokenLifetime
        c.rotateRefreshToken = r.rotateRefreshToken
        c.requireProofKeyForCodeExchange = r.requirePkce
        c.jwks = r.jwks
        c.jwksUri = r.jwksUri
        c.requirePushedAuthorizationRequests = r.requirePar
        if r.agentConfig.isSet {
            let a = r.agentConfig
            c.agentConfig.agentType = a.agentType
            c.agentConfig.capabilities = a.capabilities
            c.agentConfig.contextRetention = a.contextRetention
            c.agentConfig.maxContextSize = a.maxContextSize
            if a.hasRateLimits {
                c.agentConfig.rateLimits.requestsPerMinute = a.rateLimits.requestsPerMinute
                c.agentConfig.rateLimits.tokensPerDay = a.rateLimits.tokensPerDay
            }
        }
        if r.mcpConfig.isSet {
            let m = r.mcpConfig
            c.mcpConfig.protocolVersion = m.protocolVersion
            c.mcpConfig.supportedFeatures = m.supportedFeatures
            c.mcpConfig.endpoints = m.endpoints
            c.mcpConfig.security.requireAuth = m.requireAuth
            c.mcpConfig.security.allowedOrigins = m.allowedOrigins
        }
        c.createdAt = r.createdAt
        c.updatedAt = r.updatedAt
        var stored = Authsec_Store_V1_StoredClient()
        stored.client = c
        stored.secretHashes = r.secretHashes
        return stored
    }

    /// Registers every built-in scope that is missing.
    static func putBuiltInScopes(_ txn: WriteTransaction, now: Int64) throws {
        for (name, description) in Scopes.builtIn where try !txn.contains(Keyspace.scopes, name) {
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
