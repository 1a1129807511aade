import Crypto
import Foundation
import Store
import _CryptoExtras

/// Public facts about a signing key, for listing.
public struct SigningKeyInfo: Sendable, Equatable {
    public var kid: String
    public var algorithm: String
    public var createdAt: Int64
    public var activatesAt: Int64
    /// When it stops signing; 0 while it is current.
    public var retiredAt: Int64
    /// When it leaves the JWKS; 0 while it may still sign.
    public var expiresAt: Int64
    public var isActive: Bool
}

/// An immutable snapshot of the signing keys; swapped whole when keys rotate.
///
/// At any moment exactly one key signs: the newest whose `activatesAt` has come and that has not
/// retired. Every key stays published and verifiable until `expiresAt`, the moment after which no
/// token it signed can still be alive (RFC 7517 key rollover with overlap).
struct KeyRing: Sendable {
    /// When a key signs and how long it stays published: the same rule for every algorithm.
    protocol Scheduled {
        var activatesAt: Int64 { get }
        var retiredAt: Int64 { get }
        var expiresAt: Int64 { get }
    }

    struct Entry: Sendable, Scheduled {
        let kid: String
        let privateKey: P256.Signing.PrivateKey
        let publicKey: P256.Signing.PublicKey
        let encodedHeader: String
        let createdAt: Int64
        let activatesAt: Int64
        let retiredAt: Int64
        let expiresAt: Int64
    }

    /// An RS256 key, for the ID tokens of clients that ask for RS256 (`id_token_signed_response_alg`).
    /// Made at the first such request; access tokens are always ES256.
    struct RSAEntry: Sendable, Scheduled {
        let kid: String
        let privateKey: _RSA.Signing.PrivateKey
        let publicKey: _RSA.Signing.PublicKey
        let createdAt: Int64
        let activatesAt: Int64
        let retiredAt: Int64
        let expiresAt: Int64
    }

    static let rs256 = "RS256"

    let entries: [Entry]
    let rsaEntries: [RSAEntry]

    /// Opens every record's sealed private key with `sealingKey`.
    /// - Throws: `SealingError` when a key was sealed by another master key (`.wrongKey`), does not
    ///   authenticate or is not sealed at all (`.damaged`).
    init(records: [Authsec_Store_V1_SigningKeyRecord], sealingKey: SealingKey) throws {
        let sorted = records.sorted { $0.activatesAt < $1.activatesAt }
        rsaEntries = try sorted.filter { $0.algorithm == Self.rs256 }.map { record in
            let der = try sealingKey.open(
                record.sealedPrivateKey, sealedBy: record.sealedBy, context: Self.sealingContext(kid: record.kid))
            let key = try _RSA.Signing.PrivateKey(derRepresentation: der)
            return RSAEntry(
                kid: record.kid, privateKey: key, publicKey: key.publicKey, createdAt: record.createdAt,
                activatesAt: record.activatesAt, retiredAt: record.retiredAt, expiresAt: record.expiresAt)
        }
        entries = try sorted.filter { $0.algorithm != Self.rs256 }.map { record in
            guard !record.sealedPrivateKey.isEmpty else {
                throw SealingError(.damaged, "\(Self.sealingContext(kid: record.kid)) holds no sealed private key")
            }
            let raw = try sealingKey.open(
                record.sealedPrivateKey, sealedBy: record.sealedBy, context: Self.sealingContext(kid: record.kid))
            let key = try P256.Signing.PrivateKey(rawRepresentation: raw)
            let header = #"{"alg":"ES256","typ":"at+jwt","kid":"\#(record.kid)"}"#
            return Entry(
                kid: record.kid, privateKey: key, publicKey: key.publicKey,
                encodedHeader: Base64URL.encode(Array(header.utf8)),
                createdAt: record.createdAt, activatesAt: record.activatesAt, retiredAt: record.retiredAt,
                expiresAt: record.expiresAt)
        }
    }

    /// The key that signs at `now`.
    func signer(at now: Int64) -> Entry? {
        entries.last { $0.isSigning(at: now) }
    }

    /// The key whose precomputed header is exactly `encodedHeader`, if still accepted at `now`.
    func verifier(encodedHeader: Substring, at now: Int64) -> Entry? {
        entries.first { $0.encodedHeader == encodedHeader && $0.isPublished(at: now) }
    }

    func published(at now: Int64) -> [Entry] { entries.filter { $0.isPublished(at: now) } }

    /// The RS256 key that signs at `now`, if one was made.
    func rsaSigner(at now: Int64) -> RSAEntry? {
        rsaEntries.last { $0.isSigning(at: now) }
    }

    func publishedRSA(at now: Int64) -> [RSAEntry] { rsaEntries.filter { $0.isPublished(at: now) } }

    func info(at now: Int64) -> [SigningKeyInfo] {
        let active = [signer(at: now)?.kid, rsaSigner(at: now)?.kid]
        return entries.map {
            SigningKeyInfo(
                kid: $0.kid, algorithm: "ES256", createdAt: $0.createdAt, activatesAt: $0.activatesAt,
                retiredAt: $0.retiredAt,
                expiresAt: $0.expiresAt, isActive: active.contains($0.kid))
        }
            + rsaEntries.map {
                SigningKeyInfo(
                    kid: $0.kid, algorithm: Self.rs256, createdAt: $0.createdAt, activatesAt: $0.activatesAt,
                    retiredAt: $0.retiredAt, expiresAt: $0.expiresAt, isActive: active.contains($0.kid))
            }
    }

    /// A new key record with a random kid, its private key sealed with `sealingKey`: ES256, or
    /// for `algorithm` RS256 a 2048-bit RSA key (tens of milliseconds to make: never in a write).
    static func makeRecord(
        now: Int64, activatesAt: Int64, sealingKey: SealingKey, algorithm: String = "ES256"
    ) throws -> Authsec_Store_V1_SigningKeyRecord {
        var record = Authsec_Store_V1_SigningKeyRecord()
        record.kid = Secrets.randomBase64URL(bytes: 12)
        record.algorithm = algorithm
        if algorithm == rs256 {
            try seal(try _RSA.Signing.PrivateKey(keySize: .bits2048).derRepresentation, into: &record, with: sealingKey)
        } else {
            try seal(P256.Signing.PrivateKey().rawRepresentation, into: &record, with: sealingKey)
        }
        record.createdAt = now
        record.activatesAt = activatesAt
        return record
    }

    /// Seals the raw private key `raw` into `record` and clears the raw field, which schema
    /// versions 1 and 2 wrote and version 3 never does.
    static func seal(
        _ raw: some DataProtocol, into record: inout Authsec_Store_V1_SigningKeyRecord, with sealingKey: SealingKey
    ) throws {
        record.sealedPrivateKey = Data(try sealingKey.seal(raw, context: sealingContext(kid: record.kid)))
        record.sealedBy = sealingKey.id
        record.privateKey = Data()
    }

    /// The authenticated data of a signing key's seal: its place in the store, so the sealed
    /// bytes open only in the record of that kid.
    static func sealingContext(kid: String) -> String { "signing_keys/\(kid)" }
}

extension KeyRing.Scheduled {
    func isPublished(at now: Int64) -> Bool { expiresAt == 0 || now < expiresAt }
    func isSigning(at now: Int64) -> Bool { activatesAt <= now && (retiredAt == 0 || now < retiredAt) }
}
