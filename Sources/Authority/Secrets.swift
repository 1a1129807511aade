import Crypto
import Foundation
import Synchronization

/// Random identifiers and credentials, and how they are stored.
enum Secrets {
    /// A client secret: its creation time (8 base62 characters, as in client ids) and 256 random
    /// bits (43 base64url characters). Machine-generated, so SHA-256 storage suffices; the time
    /// prefix is stored in front of the hash (see `hash`), so new secrets are appended to the
    /// secrets table instead of each dirtying a random page of it.
    static func clientSecret(milliseconds: Int64 = currentMilliseconds()) -> String {
        timePrefix(milliseconds) + randomBytes.base64URL(32)
    }

    /// The length of a secret from `clientSecret`.
    static let secretLength = 51

    /// A client id: the creation time in milliseconds (8 base62 characters) and 96 random bits
    /// (16 base64url characters).
    ///
    /// Base62 digits in byte order make ids sort by creation time: new clients are appended at
    /// the end of the store's B-tree instead of each dirtying a random page, which halves the
    /// pages a batch of creations writes and fsyncs. Ids stay unguessable and start with a digit
    /// or letter (the time prefix lasts until the year 8900).
    static func clientID(milliseconds: Int64 = currentMilliseconds()) -> String {
        timePrefix(milliseconds) + randomBytes.base64URL(12)
    }

    static func currentMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// `milliseconds` as 8 base62 digits, which sort as the numbers do.
    private static func timePrefix(_ milliseconds: Int64) -> String {
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: 8)
        var rest = max(0, milliseconds)
        for index in digits.indices.reversed() {
            digits[index] = base62[Int(rest % 62)]
            rest /= 62
        }
        return String(decoding: digits, as: UTF8.self)
    }

    /// Base62 digits in byte order.
    private static let base62 = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// A JWT id: 128 random bits, base64url.
    static func tokenID() -> String { randomBase64URL(bytes: 16) }

    /// A grant's id: `g_` and 128 random bits. The jti of each access token issued from the
    /// grant starts with it and a dot, so that revoking the grant ends them all.
    static func grantID() -> String { "g_" + randomBase64URL(bytes: 16) }

    /// An opaque credential handed to a client or a browser (authorization code, refresh token,
    /// session cookie): 256 random bits, base64url. Only `storageKey` of it is stored.
    static func opaqueToken() -> String { randomBase64URL(bytes: 32) }

    /// The key an opaque credential is stored under: base64url SHA-256, so a copied store yields
    /// no live credential, and keys stay text for scans.
    static func storageKey(_ token: String) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array(token.utf8))))
    }

    /// Random bytes as base64url, redrawn until the text starts with a letter or digit, so that
    /// `--client-secret VALUE` on a command line is never mistaken for an option (costs < 0.05 bit).
    static func randomBase64URL(bytes count: Int) -> String {
        while true {
            let text = randomBytes.base64URL(count)
            if let first = text.utf8.first, first != UInt8(ascii: "-"), first != UInt8(ascii: "_") { return text }
        }
    }

    /// Bytes from BoringSSL's CSPRNG, drawn 4 KiB at a time: each draw costs a `getrandom` system
    /// call, which would otherwise be paid for every token id. The process never forks, so
    /// buffered bytes are never shared with another process.
    private static let randomBytes = RandomPool()

    /// The form a secret is stored and looked up in: SHA-256 of the secret, after the secret's
    /// time prefix when it is one of ours (so the table's keys grow in time order).
    static func hash(_ secret: String) -> [UInt8] {
        let bytes = Array(secret.utf8)
        let digest = Array(SHA256.hash(data: bytes))
        return bytes.count == secretLength ? Array(bytes.prefix(8)) + digest : digest
    }

    /// Compares two byte strings in time independent of where they differ.
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}

/// A buffer of CSPRNG output handed out in slices, each byte once.
final class RandomPool: Sendable {
    private static let refill = 4096

    private struct Buffer {
        var bytes: [UInt8] = []
        var position = 0
    }

    private let buffer = Mutex(Buffer())

    /// `count` bytes from the kernel's CSPRNG. (`SymmetricKey(size:)` draws them through
    /// `SystemRandomNumberGenerator`, one `getrandom` call per 8 bytes: 512 for a refill.)
    private static func systemRandomBytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { bytes, initialized in
            // glibc 2.36 on: one getrandom call for the whole buffer.
            arc4random_buf(bytes.baseAddress!, count)
            initialized = count
        }
    }

    /// `count` fresh random bytes as base64url.
    func base64URL(_ count: Int) -> String {
        precondition(count <= Self.refill)
        return buffer.withLock { buffer in
            if buffer.bytes.count - buffer.position < count {
                buffer.bytes = Self.systemRandomBytes(Self.refill)
                buffer.position = 0
            }
            let start = buffer.position
            buffer.position += count
            return Base64URL.encode(buffer.bytes[start..<start + count])
        }
    }
}
