import ClientModel
import Foundation
import Store
import SwiftProtobuf

/// Every table of Authsec's store, its key layout and record type, and the schema version, in one
/// place (migrations: `Authority+Migrations.swift`). The store itself knows only bytes and names.
///
/// Values are protobuf records from `proto/authsec/store/v1/records.proto`. Keys are UTF-8 strings
/// unless a table says otherwise. A change of layout bumps `schemaVersion` and adds a migration.
public enum Keyspace {
    /// Written to `meta["schema_version"]` at initialization. An older store is migrated at start
    /// (`Authority.migrate`); a newer one is refused.
    ///
    /// - 1: the first wave.
    /// - 2: `deleted_clients`; the built-in scope `authsec:introspect`, held by the init admin.
    /// - 3: keys at rest: `signing_keys` records hold their private key sealed with the master key
    ///   (`sealed_private_key`, `sealed_by`), kept outside the store; `private_key` is never written.
    /// - 4: `clients` records are `StoredClient`: the `authsec.v1.Client` message itself (the one
    ///   declaration of a client's fields) and the secret hashes, instead of `ClientRecord`.
    /// - 5: `quota_spend` and `rate_limits`, the counters flushed from memory; `rate_limits`
    ///   fields are `optional` (a stored 0 was never written, so it reads as absent: not limited).
    /// - 6: `users` and `usernames`; the built-in reserved scope `admin:users`, held by the init admin.
    /// - 7: `audit`, `client_history` and `usage`; `StoredClient.version`.
    /// - 8: `authorization_codes`, `grants`, `refresh_tokens`, `sessions`, `consents`,
    ///   `pushed_requests`, `device_codes`, `user_codes` and `web_origins` (built from the
    ///   clients by the migration).
    /// - 9: `resource_servers` (built from the clients by the migration), `registrations`,
    ///   `registration_fingerprints` and `registration_tokens`: dynamic client registration;
    ///   `trusted_issuers`: identity providers whose ID-JAGs are accepted.
    public static let schemaVersion: UInt32 = 9

    /// The first version whose store holds secrets sealed with a master key: from it on, a store
    /// opens only with the master key that sealed it.
    public static let firstSealedVersion: UInt32 = 3

    /// Every table, in the order the store opens them. Adding one is a schema version bump.
    public static let schema = Schema(tableNames: [
        "meta", "clients", "client_secrets", "scopes", "signing_keys", "revoked_tokens", "used_assertions",
        "deleted_clients", "quota_spend", "rate_limits", "users", "usernames", "audit", "client_history", "usage",
        "authorization_codes", "grants", "refresh_tokens", "sessions", "consents",
        "web_origins", "pushed_requests", "device_codes", "user_codes",
        "resource_servers", "registrations", "registration_fingerprints", "registration_tokens", "trusted_issuers",
    ])

    /// `meta`: key → raw bytes. Holds `schema_version`, `initialized_at` and (from version 2)
    /// `admin_client_id`, the client made at initialization.
    public static let meta = schema.rawTable("meta")
    /// `clients`: client_id → StoredClient (from version 4; ClientRecord before).
    public static let clients = schema.table("clients", of: Authsec_Store_V1_StoredClient.self)
    /// `client_secrets`: SHA-256(secret), 32 bytes → ClientSecretRecord. Secrets are never stored raw.
    public static let clientSecrets = schema.table("client_secrets", of: Authsec_Store_V1_ClientSecretRecord.self)
    /// `scopes`: scope name → ScopeRecord.
    public static let scopes = schema.table("scopes", of: Authsec_Store_V1_ScopeRecord.self)
    /// `signing_keys`: kid → SigningKeyRecord, its private key sealed (from version 3).
    public static let signingKeys = schema.table("signing_keys", of: Authsec_Store_V1_SigningKeyRecord.self)
    /// `revoked_tokens`: access-token jti → RevokedTokenRecord, kept until the token's own expiry.
    public static let revokedTokens = schema.table("revoked_tokens", of: Authsec_Store_V1_RevokedTokenRecord.self)
    /// `used_assertions`: "client_id jti" of a private_key_jwt assertion → AssertionRecord, until its `exp`.
    public static let usedAssertions = schema.table("used_assertions", of: Authsec_Store_V1_AssertionRecord.self)
    /// `deleted_clients`: client_id → DeletedClientRecord, until the client's last token has expired.
    public static let deletedClients = schema.table("deleted_clients", of: Authsec_Store_V1_DeletedClientRecord.self)
    /// `quota_spend`: client_id → QuotaSpendRecord, the day's spend of model tokens (from version 5).
    public static let quotaSpend = schema.table("quota_spend", of: Authsec_Store_V1_QuotaSpendRecord.self)
    /// `rate_limits`: client_id → RateLimitRecord, a limited client's GCRA time (from version 5).
    public static let rateLimits = schema.table("rate_limits", of: Authsec_Store_V1_RateLimitRecord.self)
    /// `users`: sub (`u_` and 22 base64url characters) → UserRecord (from version 6).
    public static let users = schema.table("users", of: Authsec_Store_V1_UserRecord.self)
    /// `usernames`: a username in ASCII lowercase (`UserRules.indexKey`) → UsernameRecord, the
    /// user holding it: usernames are unique ignoring case (from version 6).
    public static let usernames = schema.table("usernames", of: Authsec_Store_V1_UsernameRecord.self)
    /// `audit`: event id (`AuditLog.eventID`: time and sequence, fixed-width hex, so key order is
    /// time order) → AuditEvent, pruned after `--audit-retention` (from version 7).
    public static let audit = schema.table("audit", of: Authsec_V1_AuditEvent.self)
    /// `client_history`: "client_id version" (version as 8 hex digits) → ClientVersion, each
    /// version of a client's fields, pruned with the audit log (from version 7).
    public static let clientHistory = schema.table("client_history", of: Authsec_V1_ClientVersion.self)
    /// `usage`: "client_id hour" (the hour's Unix seconds / 3600 as 8 hex digits) → UsageHour,
    /// kept 7 days (from version 7).
    public static let usage = schema.table("usage", of: Authsec_V1_UsageHour.self)
    /// `authorization_codes`: `Secrets.storageKey(code)` → AuthorizationCodeRecord, until it
    /// expires; a redeemed code stays until then, so that its replay is recognized (from version 8).
    public static let authorizationCodes = schema.table(
        "authorization_codes", of: Authsec_Store_V1_AuthorizationCodeRecord.self)
    /// `grants`: grant id (`g_` and 22 base64url characters) → GrantRecord, one authorization's
    /// refresh-token family, until its absolute expiry (from version 8). A revoked grant's id is
    /// also a key of `revoked_tokens`, so that introspection refuses its access tokens.
    public static let grants = schema.table("grants", of: Authsec_Store_V1_GrantRecord.self)
    /// `refresh_tokens`: `Secrets.storageKey(token)` → RefreshTokenRecord (from version 8).
    public static let refreshTokens = schema.table("refresh_tokens", of: Authsec_Store_V1_RefreshTokenRecord.self)
    /// `sessions`: `Secrets.storageKey(cookie)` → SessionRecord, a signed-in browser (from version 8).
    public static let sessions = schema.table("sessions", of: Authsec_Store_V1_SessionRecord.self)
    /// `consents`: "sub client_id" → ConsentRecord, the scopes a user granted a client (from version 8).
    public static let consents = schema.table("consents", of: Authsec_Store_V1_ConsentRecord.self)
    /// `pushed_requests`: `Secrets.storageKey` of a request_uri's random part → PushedRequestRecord,
    /// used once (from version 8).
    public static let pushedRequests = schema.table("pushed_requests", of: Authsec_Store_V1_PushedRequestRecord.self)
    /// `device_codes`: `Secrets.storageKey(device code)` → DeviceCodeRecord (from version 8).
    public static let deviceCodes = schema.table("device_codes", of: Authsec_Store_V1_DeviceCodeRecord.self)
    /// `user_codes`: a normalized user code → UserCodeRecord, its device code (from version 8).
    public static let userCodes = schema.table("user_codes", of: Authsec_Store_V1_UserCodeRecord.self)
    /// `web_origins`: `Secrets.storageKey(origin)` → ClientIndexRecord, the clients listing the
    /// origin, kept in step with every client write (from version 8).
    public static let webOrigins = schema.table("web_origins", of: Authsec_Store_V1_ClientIndexRecord.self)
    /// `resource_servers`: `Secrets.storageKey(resource identifier)` → ClientIndexRecord, the
    /// clients serving it (`Client.resourceIdentifiers`), kept in step with every client write
    /// (from version 9).
    public static let resourceServers = schema.table(
        "resource_servers", of: Authsec_Store_V1_ClientIndexRecord.self)
    /// `registrations`: client_id → RegistrationRecord, for clients made at /register (from version 9).
    public static let registrations = schema.table("registrations", of: Authsec_Store_V1_RegistrationRecord.self)
    /// `registration_fingerprints`: `Secrets.storageKey(fingerprint)` → the public client a
    /// registration made, so that the same software registering again gets it (from version 9).
    public static let registrationFingerprints = schema.table(
        "registration_fingerprints", of: Authsec_Store_V1_RegistrationFingerprintRecord.self)
    /// `registration_tokens`: `Secrets.storageKey(initial access token)` → InitialAccessTokenRecord
    /// (from version 9).
    public static let registrationTokens = schema.table(
        "registration_tokens", of: Authsec_Store_V1_InitialAccessTokenRecord.self)
    /// `trusted_issuers`: an identity provider's issuer → TrustedIssuerRecord (from version 9).
    public static let trustedIssuers = schema.table("trusted_issuers", of: Authsec_Store_V1_TrustedIssuerRecord.self)
}

/// Protobuf records are stored as their serialized bytes.
extension StoreRecord where Self: SwiftProtobuf.Message {
    public init(storeBytes bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            self.init()
            return
        }
        // No copy: the Data lives only while the record is decoded, inside the transaction.
        try self.init(
            serializedBytes: Data(
                bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count, deallocator: .none))
    }

    public func storeBytes() throws -> [UInt8] { try serializedBytes() }
}

extension Authsec_Store_V1_StoredClient: StoreRecord {}
extension Authsec_Store_V1_ClientRecord: StoreRecord {}
extension Authsec_Store_V1_ClientSecretRecord: StoreRecord {}
extension Authsec_Store_V1_ScopeRecord: StoreRecord {}
extension Authsec_Store_V1_SigningKeyRecord: StoreRecord {}
extension Authsec_Store_V1_RevokedTokenRecord: StoreRecord {}
extension Authsec_Store_V1_AssertionRecord: StoreRecord {}
extension Authsec_Store_V1_DeletedClientRecord: StoreRecord {}
extension Authsec_Store_V1_QuotaSpendRecord: StoreRecord {}
extension Authsec_Store_V1_RateLimitRecord: StoreRecord {}
extension Authsec_Store_V1_UserRecord: StoreRecord {}
extension Authsec_Store_V1_UsernameRecord: StoreRecord {}
extension Authsec_V1_AuditEvent: StoreRecord {}
extension Authsec_V1_ClientVersion: StoreRecord {}
extension Authsec_V1_UsageHour: StoreRecord {}
extension Authsec_Store_V1_AuthorizationCodeRecord: StoreRecord {}
extension Authsec_Store_V1_GrantRecord: StoreRecord {}
extension Authsec_Store_V1_RefreshTokenRecord: StoreRecord {}
extension Authsec_Store_V1_SessionRecord: StoreRecord {}
extension Authsec_Store_V1_ConsentRecord: StoreRecord {}
extension Authsec_Store_V1_ClientIndexRecord: StoreRecord {}
extension Authsec_Store_V1_PushedRequestRecord: StoreRecord {}
extension Authsec_Store_V1_DeviceCodeRecord: StoreRecord {}
extension Authsec_Store_V1_UserCodeRecord: StoreRecord {}
extension Authsec_Store_V1_RegistrationRecord: StoreRecord {}
extension Authsec_Store_V1_RegistrationFingerprintRecord: StoreRecord {}
extension Authsec_Store_V1_InitialAccessTokenRecord: StoreRecord {}
extension Authsec_Store_V1_TrustedIssuerRecord: StoreRecord {}
