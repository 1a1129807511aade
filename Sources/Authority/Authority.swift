import Crypto
import Foundation
import Store
import Synchronization

/// Fetches a client's JWK Set from its `jwks_uri`; the server supplies one, so Authority does no I/O.
public protocol ClientKeyResolver: Sendable {
    /// The JWK Set document at `uri`, as JSON text; `refresh` asks for a newer copy than a cache
    /// may hold, after an assertion failed against the cached keys.
    func jwks(at uri: String, refresh: Bool) async throws -> String
}

/// The OAuth/OIDC domain: decides every grant, error and change, over the store and a clock.
///
/// Both doors (wire and HTTP) call the same methods here, so a grant, an error or a limit
/// behaves identically through either.
public final class Authority: Sendable {
    public let store: Store
    /// The issuer identifier (RFC 8414 §2), derived at every start and never stored.
    public let issuer: String
    let clock: any WallClock
    let keyResolver: (any ClientKeyResolver)?
    /// Fetches Client ID Metadata Documents; none means such client ids are unknown.
    let documentResolver: (any ClientDocumentResolver)?
    let documentClients = DocumentClients()
    let keyRing: Mutex<KeyRing>
    /// Seals new signing keys and opens stored ones; kept outside the store by the server.
    let sealingKey: SealingKey
    let caches = HotPathCaches()
    let rateLimiter = RateLimiter()
    let quotaLedger = QuotaLedger()
    let loginThrottle = LoginThrottle()
    /// Counts registrations per client address (`RegistrationPolicy.registrationsPerAddress`).
    let registrationThrottle = LoginThrottle()
    /// Who may register a client at `/register`, and for how long it lives unused.
    public let registrationPolicy: RegistrationPolicy
    /// Audit events and usage counts waiting for the next flush.
    let activity: ActivityRecorder
    /// How long audit events and client versions are kept, in seconds; 0 keeps none (audit off).
    public let auditRetention: Int64
    /// The sequence part of audit event ids; starts at a time-derived value so that ids stay
    /// unique across a restart within one millisecond.
    let auditSequence: Atomic<UInt32>
    /// Seconds after midnight UTC at which a quota day starts (`--quota-day-start`).
    let quotaDayStart: Int64
    /// An upper bound on the rows of `deleted_clients`: while it is 0, token verification skips
    /// that lookup. Raised before a deletion commits, lowered after a purge commits.
    let deletedClientRecords = Atomic<Int>(0)
    let purgeCursors = Mutex(PurgeCursors())
    /// Hashes and checks user passwords off the caller's executor (bcrypt by default).
    let passwordHasher: any PasswordHasher

    /// `--audit-retention`'s default: 30 days.
    public static let defaultAuditRetention: Int64 = 30 * 86_400
    /// How long hourly usage counters are kept: 7 days.
    public static let usageRetention: Int64 = 7 * 86_400

    /// The token endpoint URL, also accepted as a client assertion's audience (RFC 7523 §3).
    public var tokenEndpoint: String { issuer + "/oauth/token" }

    /// Opens Authority over an initialized store whose signing keys `sealingKey` sealed.
    /// - Throws: `AuthorityError(.failedPrecondition)` if the store was never initialized or has another
    ///   schema; `SealingError` if `sealingKey` does not open every signing key.
    public init(
        store: Store, issuer: String, sealingKey: SealingKey, clock: any WallClock = SystemClock(),
        keyResolver: (any ClientKeyResolver)? = nil, documentResolver: (any ClientDocumentResolver)? = nil,
        quotaDayStart: Int64 = 0,
        auditRetention: Int64 = Authority.defaultAuditRetention,
        passwordHasher: any PasswordHasher = BcryptPasswordHasher(),
        registrationPolicy: RegistrationPolicy = RegistrationPolicy()
    ) throws {
        self.store = store
        self.registrationPolicy = registrationPolicy
        self.passwordHasher = passwordHasher
        self.auditRetention = auditRetention
        activity = ActivityRecorder(isAuditOn: auditRetention > 0)
        auditSequence = Atomic(UInt32(truncatingIfNeeded: clock.nanoseconds() / 1000))
        self.quotaDayStart = quotaDayStart
        self.sealingKey = sealingKey
        self.issuer = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        self.clock = clock
        self.keyResolver = keyResolver
        self.documentResolver = documentResolver
        let records = try store.read { txn -> [Authsec_Store_V1_SigningKeyRecord] in
            guard let version = try txn.get(Keyspace.meta, "schema_version") else {
                throw AuthorityError(.failedPrecondition, "the data directory is not initialized")
            }
            guard Self.decodeVersion(version) == Keyspace.schemaVersion else {
                throw AuthorityError(
                    .failedPrecondition,
                    "the data directory has schema version \(Self.decodeVersion(version)), not \(Keyspace.schemaVersion); run Authority.migrate first"
                )
            }
            return try txn.scan(Keyspace.signingKeys, limit: .max).map(\.value)
        }
        keyRing = Mutex(try KeyRing(records: records, sealingKey: sealingKey))
        deletedClientRecords.store(try store.read { try $0.count(Keyspace.deletedClients) }, ordering: .releasing)
        // Rate-limit times survive a restart (less what the last flush interval had not written).
        let now = clock.nanoseconds()
        for (clientID, record) in try store.read({ try $0.scan(Keyspace.rateLimits, limit: .max) }) {
            rateLimiter.restore(clientID, arrival: record.arrival, now: now)
        }
    }

    /// Credentials of the admin client made by `initialize`; shown once, never stored raw.
    public struct AdminCredentials: Sendable {
        public let clientID: String
        public let clientSecret: String
    }

    /// Whether `store` has been initialized.
    public static func isInitialized(_ store: Store) throws -> Bool {
        try store.read { try $0.contains(Keyspace.meta, "schema_version") }
    }

    /// Whether the store holds secrets sealed with a master key (schema version 3 on), so that
    /// only the master key that sealed them can open it. A store for which this is false may be
    /// given a new master key: it is empty, or its migration to version 3 seals with that key.
    public static func holdsSealedSecrets(_ store: Store) throws -> Bool {
        try store.read { txn in
            guard let bytes = try txn.get(Keyspace.meta, "schema_version") else { return false }
            return decodeVersion(bytes) >= Keyspace.firstSealedVersion
        }
    }

    /// Checks that `sealingKey` opens every signing key in `store`, so the server can refuse a
    /// wrong master key before it opens its doors.
    /// - Throws: `SealingError` naming the first key it cannot open.
    public static func checkSealingKey(_ sealingKey: SealingKey, opens store: Store) throws {
        let records = try store.read { try $0.scan(Keyspace.signingKeys, limit: .max).map(\.value) }
        _ = try KeyRing(records: records, sealingKey: sealingKey)
    }

    /// Initializes an empty store: schema version, the first signing key (sealed with
    /// `sealingKey`), the built-in scopes and an admin client holding every reserved scope.
    /// - Throws: `failed_precondition` if the store is already initialized.
    public static func initialize(
        _ store: Store, sealingKey: SealingKey, clock: any WallClock = SystemClock()
    ) async throws -> AdminCredentials {
        let now = clock.now()
        let key = try KeyRing.makeRecord(now: now, activatesAt: now, sealingKey: sealingKey)
        let secret = Secrets.clientSecret()
        let clientID = "admin-" + Secrets.randomBase64URL(bytes: 9)
        var admin = Client.defaults(clientID: clientID, appType: .aiAgent, now: now)
        admin.name = "Authsec admin"
        admin.description_p =
            "Created by authsec init; manages clients, scopes, keys and users, and may introspect any token."
        admin.allowedScopes = Scopes.management + [Scopes.introspectAny]
        let adminRecord = Client(fields: admin).record(secretHashes: [Secrets.hash(secret)])
        try await store.write { txn in
            guard try !txn.contains(Keyspace.meta, "schema_version") else {
                throw AuthorityError(.failedPrecondition, "the data directory is already initialized")
            }
            try txn.put(Keyspace.meta, "schema_version", Self.encode(Keyspace.schemaVersion))
            try txn.put(Keyspace.meta, "initialized_at", Self.encode(UInt32(truncatingIfNeeded: now)))
            try txn.put(Keyspace.meta, "admin_client_id", Array(clientID.utf8))
            try txn.put(Keyspace.signingKeys, key.kid, key)
            try putBuiltInScopes(txn, now: now)
            let hash = Secrets.hash(secret)
            try txn.put(Keyspace.clients, clientID, adminRecord)
            var secretRecord = Authsec_Store_V1_ClientSecretRecord()
            secretRecord.clientID = clientID
            secretRecord.createdAt = now
            try txn.put(Keyspace.clientSecrets, rawKey: hash, secretRecord)
        }
        return AdminCredentials(clientID: clientID, clientSecret: secret)
    }

    static func encode(_ value: UInt32) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    /// Runs a durable write and maps store failures to the caller-facing errors.
    func write<T: Sendable>(_ body: @escaping @Sendable (WriteTransaction) throws -> T) async throws -> T {
        do {
            return try await store.write(body)
        } catch let error as StoreError {
            throw Self.map(error)
        }
    }

    /// A write whose changes are kept even when it refuses: the body returns `.failure` to refuse,
    /// and the refusal is thrown only after the commit is durable. A body that throws is rolled
    /// back, as with `write`. This is how a detected attack is answered — refresh-token reuse
    /// revokes the family, commits, and then refuses the request.
    func commitThenAnswer<T: Sendable>(
        _ body: @escaping @Sendable (WriteTransaction) throws -> Result<T, AuthorityError>
    ) async throws -> T {
        try await write(body).get()
    }

    /// A write that changes clients or their secrets: cached authentications end once it commits.
    func writeClients<T: Sendable>(_ body: @escaping @Sendable (WriteTransaction) throws -> T) async throws -> T {
        defer { caches.clientsChanged() }
        return try await write(body)
    }

    func read<T>(_ body: (ReadTransaction) throws -> T) throws -> T {
        do {
            return try store.read(body)
        } catch let error as StoreError {
            throw Self.map(error)
        }
    }

    static func map(_ error: StoreError) -> AuthorityError {
        switch error.code {
        case .mapFull:
            AuthorityError(.storageFull, "the store is full; the operator must raise --map-size", detail: error.message)
        case .closed: AuthorityError(.temporarilyUnavailable, "the server is shutting down", detail: error.message)
        // Lengths are checked where ids and names enter; this is the store's own guard behind them.
        case .invalidKey: AuthorityError(.invalidRequest, "an id or name is empty or too long", detail: error.message)
        default: AuthorityError(.serverError, "storage error", detail: error.description)
        }
    }
}
