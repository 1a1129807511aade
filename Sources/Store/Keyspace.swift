import SwiftProtobuf

/// Every LMDB named database, its key layout and the schema version, in one place.
///
/// Values are protobuf records from `proto/authsec/store/v1/records.proto`. Keys are UTF-8 strings
/// unless a table says otherwise. A change of layout bumps `schemaVersion` and adds a migration here.
public enum Keyspace {
    /// Written to `meta["schema_version"]` at initialization. An older store is migrated at start
    /// (`Authority.migrate`); a newer one is refused.
    ///
    /// - 1: the first wave.
    /// - 2: `deleted_clients`; the built-in scope `authsec:introspect`, held by the init admin.
    /// - 3: keys at rest: `signing_keys` records hold their private key sealed with the master key
    ///   (`sealed_private_key`, `sealed_by`), kept outside the store; `private_key` is never written.
    public static let schemaVersion: UInt32 = 3

    /// The first version whose store holds secrets sealed with a master key: from it on, a store
    /// opens only with the master key that sealed it.
    public static let firstSealedVersion: UInt32 = 3

    /// `meta`: key → raw bytes. Holds `schema_version`, `initialized_at` and (from version 2)
    /// `admin_client_id`, the client made at initialization.
    public static let meta = RawTable(name: "meta", index: 0)
    /// `clients`: client_id → ClientRecord.
    public static let clients = Table<Authsec_Store_V1_ClientRecord>(name: "clients", index: 1)
    /// `client_secrets`: SHA-256(secret), 32 bytes → ClientSecretRecord. Secrets are never stored raw.
    public static let clientSecrets = Table<Authsec_Store_V1_ClientSecretRecord>(name: "client_secrets", index: 2)
    /// `scopes`: scope name → ScopeRecord.
    public static let scopes = Table<Authsec_Store_V1_ScopeRecord>(name: "scopes", index: 3)
    /// `signing_keys`: kid → SigningKeyRecord, its private key sealed (from version 3).
    public static let signingKeys = Table<Authsec_Store_V1_SigningKeyRecord>(name: "signing_keys", index: 4)
    /// `revoked_tokens`: access-token jti → RevokedTokenRecord, kept until the token's own expiry.
    public static let revokedTokens = Table<Authsec_Store_V1_RevokedTokenRecord>(name: "revoked_tokens", index: 5)
    /// `used_assertions`: "client_id jti" of a private_key_jwt assertion → AssertionRecord, until its `exp`.
    public static let usedAssertions = Table<Authsec_Store_V1_AssertionRecord>(name: "used_assertions", index: 6)
    /// `deleted_clients`: client_id → DeletedClientRecord, until the client's last token has expired.
    public static let deletedClients = Table<Authsec_Store_V1_DeletedClientRecord>(name: "deleted_clients", index: 7)

    /// Names in index order; the environment opens each at start.
    static let tableNames = [
        "meta", "clients", "client_secrets", "scopes", "signing_keys", "revoked_tokens", "used_assertions",
        "deleted_clients",
    ]
}

/// A named database whose values are one protobuf record type.
public struct Table<Record: SwiftProtobuf.Message>: Sendable {
    public let name: String
    let index: Int
}

/// A named database of raw bytes.
public struct RawTable: Sendable {
    public let name: String
    let index: Int
}
