import Crypto
import Foundation

/// The master key: it seals every secret Authority must read back (today the signing keys)
/// before the secret reaches the store.
///
/// It lives outside the store file (`DATA/master.key`, or `--master-key-file`), so a copy of
/// `data.mdb` alone yields no key that can mint a token. Secrets the server only compares (client
/// secrets, refresh tokens) are hashed instead and need no master key.
///
/// Sealing is AES-256-GCM with a fresh random 96-bit nonce per seal (far below the 2^32 seals a
/// key may make with random nonces: secrets are sealed when keys are created or rotated). The
/// authenticated data is the sealed value's place in the store (`signing_keys/KID`), so a sealed
/// blob copied into another record does not open. Every sealed record also names the master key
/// that sealed it (`id`), so that a later rotation of the master key can tell which key opens
/// which record; rotation itself is not built yet.
///
/// The server reads and writes the key file; this type only parses and formats its text, so
/// Authority does no I/O.
public struct SealingKey: Sendable {
    /// Names this master key in the records it seals (`sealed_by`): base64url of the first 9
    /// bytes of HMAC-SHA256(key, "authsec master key id"). Derived from the key, so it cannot drift
    /// from it, and it tells nothing about the key.
    public let id: String
    private let key: SymmetricKey

    /// The length of a master key: 256 bits, for AES-256-GCM.
    public static let byteCount = 32

    /// The first line of a master key file; the second is the key's 32 bytes in base64
    /// (RFC 4648 §4, with padding). The version names the format, so it can change later.
    public static let fileHeader = "authsec-master-key v1"

    /// A master key from its 32 bytes.
    /// - Throws: `SealingError(.malformedKey)` for any other length.
    public init(bytes: some ContiguousBytes) throws {
        let key = SymmetricKey(data: bytes)
        guard key.bitCount == Self.byteCount * 8 else {
            throw SealingError(.malformedKey, "a master key is \(Self.byteCount) bytes, not \(key.bitCount / 8)")
        }
        self.key = key
        let mac = HMAC<SHA256>.authenticationCode(for: Array("authsec master key id".utf8), using: key)
        id = Base64URL.encode(Array(mac).prefix(9))
    }

    /// A new master key from the system's CSPRNG.
    public static func random() -> SealingKey {
        let key = SymmetricKey(size: .bits256)
        // A 256-bit SymmetricKey has exactly the length init(bytes:) requires.
        return try! key.withUnsafeBytes { try SealingKey(bytes: Array($0)) }
    }

    /// Parses the text of a master key file: `authsec-master-key v1`, then the key in base64, each
    /// on its own line (surrounding blank space ignored).
    /// - Throws: `SealingError(.malformedKey)` naming what is wrong, never the key itself.
    public init(fileText: String) throws {
        let lines = fileText.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard lines.first == Self.fileHeader else {
            throw SealingError(.malformedKey, "its first line is not '\(Self.fileHeader)'")
        }
        guard lines.count == 2, let bytes = Data(base64Encoded: lines[1]), bytes.count == Self.byteCount else {
            throw SealingError(
                .malformedKey, "its second and last line must be \(Self.byteCount) bytes in base64")
        }
        try self.init(bytes: bytes)
    }

    /// The text of a master key file for this key; see `init(fileText:)`.
    public var fileText: String {
        key.withUnsafeBytes { "\(Self.fileHeader)\n\(Data($0).base64EncodedString())\n" }
    }

    /// Seals `secret` for the place `context` names (e.g. `signing_keys/KID`): nonce, ciphertext
    /// and tag, as `AES.GCM.SealedBox.combined` lays them out.
    func seal(_ secret: some DataProtocol, context: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(secret, using: key, authenticating: Array(context.utf8))
        // With the default 12-byte nonce, `combined` is always present.
        return Array(box.combined!)
    }

    /// Opens what `seal` sealed for the same `context`, checking first that this key sealed it.
    /// - Throws: `SealingError(.wrongKey)` when `sealedBy` names another master key;
    ///   `SealingError(.damaged)` when the bytes do not authenticate (changed, truncated, or
    ///   moved from another record).
    func open(_ sealed: some DataProtocol, sealedBy: String, context: String) throws -> [UInt8] {
        guard sealedBy == id else {
            throw SealingError(.wrongKey, "\(context) was sealed by master key \(sealedBy), not by \(id)")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: key, authenticating: Array(context.utf8)))
        } catch {
            throw SealingError(
                .damaged, "the sealed bytes of \(context) do not authenticate: damaged, or moved from another record")
        }
    }
}

/// Why the master key could not be read or could not open a sealed secret.
///
/// The server names the key file in its message; `description` never holds key material.
public struct SealingError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// The key file's text or the key's length is not a master key.
        case malformedKey
        /// The secret was sealed by another master key.
        case wrongKey
        /// The sealed bytes do not authenticate under the key that sealed them, or are missing.
        case damaged
    }

    public let code: Code
    public let description: String

    public init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
