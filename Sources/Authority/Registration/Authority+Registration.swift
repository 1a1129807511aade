import ClientModel
import Foundation
import Store

/// A client that registered itself (RFC 7591 §3.2.1).
public struct Registration: Sendable {
    public let client: Client
    /// Shown once; nil for a client without a secret.
    public let secret: String?
    /// RFC 7592's token for reading, replacing and deleting the registration. Nil when the answer
    /// is a public client the same software registered before: that client is shared, so no
    /// registrant may change it.
    public let accessToken: String?
}

/// An initial access token (RFC 7591 §3) as listed: never the token itself.
public struct InitialAccessToken: Sendable {
    public let id: String
    public let createdAt: Int64
    public let expiresAt: Int64
    /// Registrations it may still make; 0 means unlimited until it expires.
    public let usesLeft: Int64
    public let createdBy: String
}

extension Authority {
    // MARK: - RFC 7591 registration

    /// Registers a client from its metadata (`body`, JSON). Without `--open-registration` an
    /// initial access token is required, and each registration spends one of its uses. Registrations
    /// are throttled per client address. A public client that the same software registered with
    /// the same redirect URIs, grants, scopes and auth method is answered again instead of a copy.
    public func register(_ body: [UInt8], initialAccessToken: String?, context: CallContext) async throws
        -> Registration
    {
        let now = clock.now()
        let token = initialAccessToken.flatMap { $0.isEmpty ? nil : $0 }
        guard registrationPolicy.isOpen || token != nil else {
            throw AuthorityError(
                .invalidToken, "registration needs an initial access token (authsec registration-tokens create)")
        }
        let addressKey = "address " + context.peer
        let wait = registrationThrottle.wait(addressKey, now: now)
        guard wait == 0 else {
            throw AuthorityError(.rateLimited, "too many registrations from this address", retryAfter: wait)
        }
        let clientID = Secrets.clientID()
        let client = try registeredFields(try ClientMetadata.parse(body), clientID: clientID, now: now) {
            $0.registeredAt = now
        }
        let secret = client.authMethod.usesSecret ? Secrets.clientSecret() : nil
        let accessToken = Secrets.opaqueToken()
        let fingerprint = client.isConfidential ? nil : Self.fingerprint(of: client)
        let registered = try await writeClients { txn -> Registration in
            if let token { try self.spendInitialAccessToken(token, txn, now: now) }
            if let fingerprint, let existing = try txn.get(Keyspace.registrationFingerprints, fingerprint),
                let record = try txn.get(Keyspace.clients, existing.clientID)
            {
                return Registration(client: Client(record: record), secret: nil, accessToken: nil)
            }
            for scope in client.allowedScopes where !ClientValidator.oidcScopes.contains(scope) {
                guard try txn.contains(Keyspace.scopes, scope) else {
                    throw AuthorityError(.invalidClientMetadata, "scope: '\(scope)' no longer exists")
                }
            }
            try Self.index(txn, clientID: clientID, from: nil, to: client)
            let hash = secret.map(Secrets.hash)
            try txn.put(
                Keyspace.clients, clientID,
                client.record(secretHashes: hash.map { [$0] } ?? [], createdBy: "registration"))
            if let hash {
                try txn.put(
                    Keyspace.clientSecrets, rawKey: hash, Self.secretRecord(clientID, now: now, expiresAt: 0))
            }
            var registration = Authsec_Store_V1_RegistrationRecord()
            registration.accessTokenHash = Data(Secrets.hash(accessToken))
            registration.registeredAt = now
            if let fingerprint {
                registration.fingerprint = fingerprint
                try txn.put(Keyspace.registrationFingerprints, fingerprint, .with { $0.clientID = clientID })
            }
            try txn.put(Keyspace.registrations, clientID, registration)
            try self.putAudit(
                txn, .clientRegister, by: AdminCaller(clientID: clientID, reservedScopes: [], context: context),
                clientID: clientID, detail: context.peer)
            return Registration(client: client, secret: secret, accessToken: accessToken)
        }
        registrationThrottle.recordFailure(
            addressKey,
            policy: LoginThrottle.Policy(freeFailures: registrationPolicy.registrationsPerAddress - 1, firstLock: 60),
            now: now)
        return registered
    }

    /// The scopes a registration may be allowed: `--registration-scopes`, or every registered
    /// scope that is not reserved, and OpenID's.
    func registrableScopes() throws -> [String] {
        let registered = try listScopes().map(\.name)
        let candidates = registrationPolicy.scopes ?? (["openid", "profile", "email"] + registered)
        return try existingScopes(candidates.filter { !Scopes.reserved.contains($0) }.uniqued())
    }

    /// The client `metadata` describes, as a registration makes it: only the registrable scopes
    /// (all of them when it asks for none), the type's defaults, `adjust`ed (the server-set
    /// fields), then checked by the one client rule, its errors spelled as RFC 7591 names the fields.
    func registeredFields(
        _ metadata: ClientMetadata, clientID: String, now: Int64, adjust: (inout Authsec_V1_Client) -> Void = { _ in }
    ) throws -> Client {
        var given = metadata.fields
        let registrable = try registrableScopes()
        given.allowedScopes =
            given.allowedScopes.isEmpty ? registrable : given.allowedScopes.filter(registrable.contains)
        var fields = Client.defaults(filling: given, clientID: clientID, appType: metadata.appType, now: now)
        adjust(&fields)
        let base = Client(fields: Client.defaults(clientID: clientID, appType: metadata.appType, now: now))
        do {
            return try read { txn in
                try ClientValidator.validate(fields, base: base) { try txn.contains(Keyspace.scopes, $0) }
            }
        } catch let error as AuthorityError {
            throw ClientMetadata.spelledForRegistration(error)
        }
    }

    /// What makes two public registrations the same software's: its `software_id` (or name), and
    /// every setting a registration gives.
    static func fingerprint(of client: Client) -> String {
        let parts = [
            client.softwareID.isEmpty ? "name " + client.name : "id " + client.softwareID,
            client.appType.rawValue, client.authMethod.rawValue,
            client.callbacks.sorted().joined(separator: " "),
            client.fields.grantTypes.sorted().joined(separator: " "),
            client.allowedScopes.sorted().joined(separator: " "),
            client.logoutUrls.sorted().joined(separator: " "),
        ]
        return Secrets.storageKey(parts.joined(separator: "\n"))
    }

    // MARK: - RFC 7592 management by the registration access token

    /// The registered client `clientID`, for the holder of its registration access token.
    public func registeredClient(_ clientID: String, accessToken: String) throws -> Client {
        try read { txn in try Self.checkedRegistration(txn, clientID, accessToken: accessToken).client }
    }

    /// Replaces a registered client's metadata (RFC 7592 §2.2). Its id, secret and registration
    /// access token stay; it may not switch between public and confidential.
    public func updateRegistration(_ clientID: String, accessToken: String, _ body: [UInt8], context: CallContext)
        async throws -> Client
    {
        let now = clock.now()
        let current = try registeredClient(clientID, accessToken: accessToken)
        let metadata = try ClientMetadata.parse(body)
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        guard (object?["client_id"] as? String) == clientID else {
            throw AuthorityError(.invalidRequest, "client_id: must be given and equal the registered client's")
        }
        let client = try registeredFields(metadata, clientID: clientID, now: now) {
            $0.createdAt = current.createdAt
            $0.registeredAt = current.registeredAt
        }
        guard client.isConfidential == current.isConfidential,
            client.authMethod.usesSecret == current.authMethod.usesSecret
        else {
            throw AuthorityError(
                .invalidClientMetadata,
                "token_endpoint_auth_method: a registered client cannot switch between a secret and none or keys; register a new one"
            )
        }
        return try await writeClients { txn in
            guard let record = try txn.get(Keyspace.clients, clientID),
                var registration = try txn.get(Keyspace.registrations, clientID)
            else { throw Self.badRegistrationToken }
            try Self.index(txn, clientID: clientID, from: Client(record: record), to: client)
            // A changed client is no longer the shared answer to its software's registrations.
            if !registration.fingerprint.isEmpty {
                _ = try txn.delete(Keyspace.registrationFingerprints, registration.fingerprint)
                registration.fingerprint = ""
                try txn.put(Keyspace.registrations, clientID, registration)
            }
            try txn.put(
                Keyspace.clients, clientID,
                client.record(
                    secretHashes: record.secretHashes.map { Array($0) }, version: record.version,
                    createdBy: record.createdBy))
            try self.putAudit(
                txn, .clientUpdate, by: AdminCaller(clientID: clientID, reservedScopes: [], context: context),
                clientID: clientID, detail: "registration")
            return client
        }
    }

    /// Deletes a registered client (RFC 7592 §2.3); its tokens stop at once, as for `deleteClient`.
    public func deleteRegistration(_ clientID: String, accessToken: String, context: CallContext) async throws {
        _ = try registeredClient(clientID, accessToken: accessToken)
        try await removeClients([clientID], by: AdminCaller(clientID: clientID, reservedScopes: [], context: context))
    }

    private static let badRegistrationToken = AuthorityError(
        .invalidToken, "the registration access token is invalid for this client")

    /// The client and its registration, if `accessToken` is its registration access token; the
    /// same refusal for an unknown client, one not registered, and a wrong token.
    static func checkedRegistration(_ txn: ReadTransaction, _ clientID: String, accessToken: String) throws
        -> (client: Client, registration: Authsec_Store_V1_RegistrationRecord)
    {
        guard (1...256).contains(clientID.utf8.count), !accessToken.isEmpty, accessToken.utf8.count <= 256,
            let registration = try txn.get(Keyspace.registrations, clientID),
            Secrets.constantTimeEqual(Array(registration.accessTokenHash), Secrets.hash(accessToken)),
            let record = try txn.get(Keyspace.clients, clientID)
        else { throw badRegistrationToken }
        return (Client(record: record), registration)
    }

    // MARK: - Initial access tokens

    /// Makes an initial access token: `lifetime` seconds (1 minute to 1 year), for `uses`
    /// registrations (0: any number until it expires). The token is shown once.
    public func createInitialAccessToken(lifetime: Int64, uses: Int64, by caller: AdminCaller) async throws
        -> (token: String, info: InitialAccessToken)
    {
        guard (60...31_536_000).contains(lifetime) else {
            throw AuthorityError(.invalidRequest, "ttl must be between 60 seconds and 365 days")
        }
        guard (0...1_000_000).contains(uses) else {
            throw AuthorityError(.invalidRequest, "uses must be between 0 (unlimited) and 1000000")
        }
        let now = clock.now()
        let token = Secrets.opaqueToken()
        var record = Authsec_Store_V1_InitialAccessTokenRecord()
        record.id = "iat_" + String(Secrets.storageKey(token).prefix(12))
        record.createdAt = now
        record.expiresAt = now + lifetime
        record.usesLeft = uses
        record.createdBy = caller.clientID
        try await write { [record] txn in
            try txn.put(Keyspace.registrationTokens, Secrets.storageKey(token), record)
            try self.putAudit(txn, .registrationTokenCreate, by: caller, detail: record.id)
        }
        return (token, Self.initialAccessToken(record))
    }

    /// The initial access tokens that have not expired, oldest first.
    public func listInitialAccessTokens() throws -> [InitialAccessToken] {
        let now = clock.now()
        return try read { try $0.scan(Keyspace.registrationTokens, limit: 10_000) }
            .map(\.value).filter { $0.expiresAt > now }.sorted { $0.createdAt < $1.createdAt }
            .map(Self.initialAccessToken)
    }

    /// Revokes the initial access token listed as `id`.
    public func revokeInitialAccessToken(_ id: String, by caller: AdminCaller) async throws {
        try await write { txn in
            guard
                let key = try txn.reader.scan(Keyspace.registrationTokens, limit: 10_000)
                    .first(where: { $0.value.id == id })?.key
            else { throw AuthorityError(.notFound, "initial access token \(id) does not exist") }
            _ = try txn.delete(Keyspace.registrationTokens, key)
            try self.putAudit(txn, .registrationTokenRevoke, by: caller, detail: id)
        }
    }

    private func spendInitialAccessToken(_ token: String, _ txn: WriteTransaction, now: Int64) throws {
        let key = Secrets.storageKey(token)
        guard token.utf8.count <= 256, var record = try txn.get(Keyspace.registrationTokens, key),
            now < record.expiresAt
        else { throw AuthorityError(.invalidToken, "the initial access token is invalid or has expired") }
        if record.usesLeft == 1 {
            _ = try txn.delete(Keyspace.registrationTokens, key)
        } else if record.usesLeft > 1 {
            record.usesLeft -= 1
            try txn.put(Keyspace.registrationTokens, key, record)
        }
    }

    private static func initialAccessToken(_ record: Authsec_Store_V1_InitialAccessTokenRecord) -> InitialAccessToken {
        InitialAccessToken(
            id: record.id, createdAt: record.createdAt, expiresAt: record.expiresAt, usesLeft: record.usesLeft,
            createdBy: record.createdBy)
    }

    // MARK: - Expiry

    /// The registered clients unused for `--registration-ttl` (by their usage, or since they
    /// registered if never used), at most `limit` of them.
    func unusedRegistrations(now: Int64, limit: Int) throws -> [String] {
        let ttl = registrationPolicy.unusedLifetime
        return try read { try $0.scan(Keyspace.registrations, limit: .max) }
            .filter { max($0.value.registeredAt, $0.value.lastUsedAt) + ttl <= now }
            .prefix(limit).map(\.key)
    }
}
