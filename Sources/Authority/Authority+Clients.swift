import ClientModel
import Foundation
import Store

/// A client together with a secret shown once (create and rotate-secret only).
public struct ClientWithSecret: Sendable {
    public let client: Client
    /// Nil for clients that have no secret (`none`, `private_key_jwt`).
    public let secret: String?
    /// When the previous secret stops working, if a rotation kept it.
    public let previousSecretExpiresAt: Int64?
}

/// One page of clients in client_id order.
public struct ClientPage: Sendable {
    public let clients: [Client]
    /// Pass back to get the next page; nil on the last one.
    public let nextPageToken: String?
}

extension Authority {
    /// Registers a client; on any refused field nothing is stored. `caller` may give the client
    /// only reserved scopes it holds itself.
    public func createClient(_ change: ClientChange, by caller: AdminCaller) async throws -> ClientWithSecret {
        try await audited(.clientCreate, by: caller) { try await createClientOnce(change, by: caller) }
    }

    private func createClientOnce(_ change: ClientChange, by caller: AdminCaller) async throws -> ClientWithSecret {
        let now = clock.now()
        let typeName = change.given.contains("app_type") ? change.fields.appType : AppType.aiAgent.rawValue
        guard let appType = AppType(spelling: typeName) else {
            throw AuthorityError(
                .invalidClientMetadata, "app_type: '\(typeName)' is not one of ai_agent, mcp_server, web, mobile")
        }
        let clientID = Secrets.clientID()
        let base = Client(fields: Client.defaults(clientID: clientID, appType: appType, now: now))
        // Validate against a snapshot first for a precise error without queuing a write; scopes are
        // checked again inside the write so a concurrent scope deletion cannot slip through.
        let client = try read { txn in
            let scopeExists = { (name: String) in try txn.contains(Keyspace.scopes, name) }
            guard change.givesWhatHasValues else {
                return try ClientValidator.apply(change, to: base, scopeExists: scopeExists)
            }
            // The defaults filled in where the change gives nothing: the same client as the
            // change applied to `base`, without a field-mask merge.
            let filled = Client.defaults(filling: change.fields, clientID: clientID, appType: appType, now: now)
            return try ClientValidator.validate(filled, base: base, scopeExists: scopeExists)
        }
        try caller.requireHolds(client.allowedScopes, of: client.clientID, "create")
        let secret = client.authMethod.usesSecret ? Secrets.clientSecret() : nil
        let hash = secret.map(Secrets.hash)
        try await write { txn in
            for scope in client.allowedScopes where !ClientValidator.oidcScopes.contains(scope) {
                guard try txn.contains(Keyspace.scopes, scope) else {
                    throw AuthorityError(
                        .invalidClientMetadata, "allowed_scopes: scope '\(scope)' does not exist; create it first")
                }
            }
            guard try !txn.contains(Keyspace.clients, client.clientID) else {
                throw AuthorityError(.alreadyExists, "client \(client.clientID) already exists")
            }
            try Self.index(txn, clientID: client.clientID, from: nil, to: client)
            // Its first history version is written at its first update, from this record.
            try txn.put(
                Keyspace.clients, client.clientID,
                client.record(secretHashes: hash.map { [$0] } ?? [], createdBy: caller.clientID))
            try self.putAudit(
                txn, .clientCreate, by: caller, clientID: client.clientID, detail: Self.fieldsDetail(change))
            if let hash {
                try txn.put(
                    Keyspace.clientSecrets, rawKey: hash, Self.secretRecord(client.clientID, now: now, expiresAt: 0))
            }
        }
        return ClientWithSecret(client: client, secret: secret, previousSecretExpiresAt: nil)
    }

    public func client(_ clientID: String) throws -> Client {
        guard let record = try read({ try $0.get(Keyspace.clients, clientID) }) else {
            throw AuthorityError(.notFound, "client \(clientID) does not exist")
        }
        return Client(record: record)
    }

    /// Up to `pageSize` clients (default 50, at most 500) after `pageToken`; with
    /// `registeredOnly`, only those that registered themselves at /register.
    public func listClients(pageSize: Int, pageToken: String?, registeredOnly: Bool = false) throws -> ClientPage {
        let size = pageSize <= 0 ? 50 : min(pageSize, 500)
        let after = pageToken.flatMap { $0.isEmpty ? nil : $0 }
        if registeredOnly {
            let (ids, clients) = try read { txn in
                let ids = try txn.scan(Keyspace.registrations, after: after, limit: size + 1).map(\.key)
                return (ids, try ids.prefix(size).compactMap { try txn.get(Keyspace.clients, $0) }.map(Client.init))
            }
            return ClientPage(clients: clients, nextPageToken: ids.count > size ? ids[size - 1] : nil)
        }
        let rows = try read { try $0.scan(Keyspace.clients, after: after, limit: size + 1) }
        let clients = rows.prefix(size).map { Client(record: $0.value) }
        return ClientPage(clients: Array(clients), nextPageToken: rows.count > size ? clients.last?.clientID : nil)
    }

    /// Changes the given settings of a client; the others keep their values. All or nothing.
    ///
    /// `caller` may change only a client whose reserved scopes it holds, give only reserved scopes
    /// it holds, and may not take from itself its last way to get a management token.
    public func updateClient(_ clientID: String, _ change: ClientChange, by caller: AdminCaller) async throws
        -> Client
    {
        try await audited(.clientUpdate, by: caller, clientID: clientID) {
            try await updateClientOnce(clientID, change, by: caller)
        }
    }

    private func updateClientOnce(_ clientID: String, _ change: ClientChange, by caller: AdminCaller) async throws
        -> Client
    {
        let now = clock.now()
        if change.given.contains("app_type"), AppType(spelling: change.fields.appType) == nil {
            throw AuthorityError(
                .invalidClientMetadata,
                "app_type: '\(change.fields.appType)' is not one of ai_agent, mcp_server, web, mobile")
        }
        return try await writeClients { txn in
            guard let record = try txn.get(Keyspace.clients, clientID) else {
                throw AuthorityError(.notFound, "client \(clientID) does not exist")
            }
            try caller.requireHolds(record.client.allowedScopes, of: clientID, "change")
            var client = try ClientValidator.apply(change, to: Client(record: record)) {
                try txn.contains(Keyspace.scopes, $0)
            }
            try caller.requireHolds(client.allowedScopes, of: clientID, "change")
            if clientID == caller.clientID {
                guard client.grantTypes.contains(.clientCredentials), client.isConfidential, !client.isDisabled else {
                    throw AuthorityError(
                        .failedPrecondition,
                        "client \(clientID) is the caller; it cannot disable itself or remove its own client_credentials grant or credentials"
                    )
                }
            }
            client.stamp(updatedAt: now)
            var hashes = record.secretHashes.map { Array($0) }
            if !client.authMethod.usesSecret {
                // A client that no longer uses a secret must not keep a working one.
                for hash in hashes { try txn.delete(Keyspace.clientSecrets, rawKey: hash) }
                hashes = []
            } else if hashes.isEmpty {
                throw AuthorityError(
                    .failedPrecondition,
                    "token_endpoint_auth_method: the client has no secret; run rotate-secret after switching to a secret method",
                    detail: nil)
            }
            // Its first update writes down the version its record stood for until now.
            if record.version == 0 { try self.putVersion(txn, Self.firstVersion(of: record)) }
            let version = max(record.version, 1) + 1
            try Self.index(txn, clientID: clientID, from: Client(fields: record.client), to: client)
            try txn.put(
                Keyspace.clients, clientID,
                client.record(secretHashes: hashes, version: version, createdBy: record.createdBy))
            try self.putVersion(
                txn,
                .with {
                    $0.version = version
                    $0.time = self.clock.nanoseconds() / 1_000_000
                    $0.actor = caller.clientID
                    $0.change = "update"
                    $0.client = client.fields
                })
            try self.putAudit(txn, .clientUpdate, by: caller, clientID: clientID, detail: Self.fieldsDetail(change))
            return client
        }
    }

    /// Keeps the client indexes (`web_origins`, `resource_servers`) in step with a client
    /// changing from `old` to `new` (nil: none).
    static func index(_ txn: WriteTransaction, clientID: String, from old: Client?, to new: Client?) throws {
        try index(
            txn, Keyspace.webOrigins, clientID: clientID, from: old?.webOrigins ?? [], to: new?.webOrigins ?? [])
        try index(
            txn, Keyspace.resourceServers, clientID: clientID, from: old?.resourceIdentifiers ?? [],
            to: new?.resourceIdentifiers ?? [])
    }

    /// Keeps `table`, an index of values to the clients holding them, in step with one client's
    /// values changing from `old` to `new`.
    static func index(
        _ txn: WriteTransaction, _ table: Table<Authsec_Store_V1_ClientIndexRecord>, clientID: String,
        from old: [String], to new: [String]
    ) throws {
        for value in Set(old).subtracting(new) {
            let key = Secrets.storageKey(value)
            guard var record = try txn.get(table, key) else { continue }
            record.clientIds.removeAll { $0 == clientID }
            if record.clientIds.isEmpty {
                _ = try txn.delete(table, key)
            } else {
                try txn.put(table, key, record)
            }
        }
        for value in Set(new).subtracting(old) {
            let key = Secrets.storageKey(value)
            var record = try txn.get(table, key) ?? Authsec_Store_V1_ClientIndexRecord()
            if !record.clientIds.contains(clientID) { record.clientIds.append(clientID) }
            try txn.put(table, key, record)
        }
    }

    /// Whether some client lists `origin` in its `web_origins`: CORS answers only those (never
    /// `*`), on the endpoints a browser application calls.
    public func isRegisteredWebOrigin(_ origin: String) throws -> Bool {
        guard (1...2048).contains(origin.utf8.count) else { return false }
        return try read { try $0.get(Keyspace.webOrigins, Secrets.storageKey(origin)) != nil }
    }

    /// Deletes a client and its secrets; its access tokens stop at once, everywhere. `caller` may
    /// not delete itself (that could lock the last admin out of a store `init` will not redo),
    /// nor a client holding a reserved scope it lacks.
    public func deleteClient(_ clientID: String, by caller: AdminCaller) async throws {
        try await audited(.clientDelete, by: caller, clientID: clientID) {
            try await deleteClientOnce(clientID, by: caller)
        }
    }

    private func deleteClientOnce(_ clientID: String, by caller: AdminCaller) async throws {
        guard clientID != caller.clientID else {
            throw AuthorityError(
                .failedPrecondition, "client \(clientID) is the caller; a client cannot delete itself")
        }
        try await removeClients([clientID], by: caller) { record in
            try caller.requireHolds(record.client.allowedScopes, of: clientID, "delete")
        }
    }

    /// Deletes clients, each with its secrets, indexes and registration; their access tokens stop
    /// at once, everywhere. `check` may refuse one (the whole call then changes nothing). A client
    /// that is gone already is not found: for one it is an error, among many it is skipped.
    func removeClients(
        _ clientIDs: [String], by caller: AdminCaller,
        check: @escaping @Sendable (Authsec_Store_V1_StoredClient) throws -> Void = { _ in }
    ) async throws {
        let now = clock.now()
        // Counted before the commit, so no verification after it can skip the lookup.
        var deletedCount = 0
        deletedClientRecords.add(clientIDs.count, ordering: .sequentiallyConsistent)
        defer { deletedClientRecords.subtract(clientIDs.count - deletedCount, ordering: .sequentiallyConsistent) }
        let removed = try await writeClients { txn -> [String] in
            var removed: [String] = []
            for clientID in clientIDs {
                guard let record = try txn.get(Keyspace.clients, clientID) else {
                    if clientIDs.count == 1 { throw AuthorityError(.notFound, "client \(clientID) does not exist") }
                    continue
                }
                try check(record)
                for hash in record.secretHashes { try txn.delete(Keyspace.clientSecrets, rawKey: Array(hash)) }
                try txn.delete(Keyspace.clients, clientID)
                try Self.index(txn, clientID: clientID, from: Client(fields: record.client), to: nil)
                if let registration = try txn.get(Keyspace.registrations, clientID) {
                    if !registration.fingerprint.isEmpty {
                        _ = try txn.delete(Keyspace.registrationFingerprints, registration.fingerprint)
                    }
                    _ = try txn.delete(Keyspace.registrations, clientID)
                }
                // Its tokens may live until the longest lifetime from now (a lifetime may have been lowered).
                var deleted = Authsec_Store_V1_DeletedClientRecord()
                deleted.deletedAt = now
                deleted.expiresAt = now + Client.maxAccessTokenLifetime
                try txn.put(Keyspace.deletedClients, clientID, deleted)
                _ = try txn.delete(Keyspace.quotaSpend, clientID)
                _ = try txn.delete(Keyspace.rateLimits, clientID)
                try self.putAudit(txn, .clientDelete, by: caller, clientID: clientID)
                removed.append(clientID)
            }
            return removed
        }
        deletedCount = removed.count
        for clientID in removed {
            rateLimiter.forget(clientID)
            quotaLedger.forget(clientID)
        }
    }

    /// Issues a new secret. With `keepPreviousFor` > 0 the current secret keeps working that many
    /// seconds (an overlap for redeploying); otherwise it stops at once. Older secrets always stop.
    public func rotateClientSecret(_ clientID: String, keepPreviousFor: Int64, by caller: AdminCaller) async throws
        -> ClientWithSecret
    {
        try await audited(.clientRotateSecret, by: caller, clientID: clientID) {
            try await rotateClientSecretOnce(clientID, keepPreviousFor: keepPreviousFor, by: caller)
        }
    }

    private func rotateClientSecretOnce(_ clientID: String, keepPreviousFor: Int64, by caller: AdminCaller)
        async throws -> ClientWithSecret
    {
        guard keepPreviousFor >= 0, keepPreviousFor <= 30 * 86_400 else {
            throw AuthorityError(.invalidRequest, "keep_previous_for must be between 0 and 30 days")
        }
        let now = clock.now()
        let secret = Secrets.clientSecret()
        let hash = Secrets.hash(secret)
        return try await writeClients { txn in
            guard let record = try txn.get(Keyspace.clients, clientID) else {
                throw AuthorityError(.notFound, "client \(clientID) does not exist")
            }
            try caller.requireHolds(record.client.allowedScopes, of: clientID, "rotate the secret of")
            var client = Client(record: record)
            guard client.authMethod.usesSecret else {
                throw AuthorityError(
                    .failedPrecondition,
                    "client \(clientID) authenticates with \(client.authMethod.rawValue) and has no secret")
            }
            let previous = record.secretHashes.map { Array($0) }
            var kept: [[UInt8]] = []
            for (index, old) in previous.enumerated() {
                if index == 0, keepPreviousFor > 0 {
                    try txn.put(
                        Keyspace.clientSecrets, rawKey: old,
                        Self.secretRecord(clientID, now: now, expiresAt: now + keepPreviousFor))
                    kept.append(old)
                } else {
                    try txn.delete(Keyspace.clientSecrets, rawKey: old)
                }
            }
            try txn.put(Keyspace.clientSecrets, rawKey: hash, Self.secretRecord(clientID, now: now, expiresAt: 0))
            client.stamp(updatedAt: now)
            try txn.put(
                Keyspace.clients, clientID,
                client.record(secretHashes: [hash] + kept, version: record.version, createdBy: record.createdBy))
            try self.putAudit(
                txn, .clientRotateSecret, by: caller, clientID: clientID,
                detail: kept.isEmpty ? "previous secret stopped" : "previous secret kept \(keepPreviousFor)s")
            return ClientWithSecret(
                client: client, secret: secret, previousSecretExpiresAt: kept.isEmpty ? nil : now + keepPreviousFor)
        }
    }

    static func secretRecord(_ clientID: String, now: Int64, expiresAt: Int64) -> Authsec_Store_V1_ClientSecretRecord {
        var record = Authsec_Store_V1_ClientSecretRecord()
        record.clientID = clientID
        record.createdAt = now
        record.expiresAt = expiresAt
        return record
    }
}
