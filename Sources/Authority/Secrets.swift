import Crypto
import Foundation

/// Random identifiers and credentials, and how they are stored.
enum Secrets {
    /// A 256-bit client secret, base64url (43 characters). Machine-generated, so SHA-256 storage suffices.
    static func clientSecret() -> String { randomBase64URL(bytes: 32) }

    /// A client id: 128 random bits, base64url.
    static func clientID() -> String { randomBase64URL(bytes: 16) }

    /// A JWT id: 128 random bits, base64url.
    static func tokenID() -> String { randomBase64URL(bytes: 16) }

    /// Random bytes as base64url, redrawn until the text starts with a letter or digit, so that
    /// `--client-secret VALUE` on a command line is never mistaken for an option (costs < 0.05 bit).
    static func randomBase64URL(bytes count: Int) -> String {
        while true {
            // BoringSSL's CSPRNG (through SymmetricKey): no system call per byte.
            let text = SymmetricKey(size: SymmetricKeySize(bitCount: count * 8)).withUnsafeBytes {
                Base64URL.encode($0)
            }
            if let first = text.utf8.first, first != UInt8(ascii: "-"), first != UInt8(ascii: "_") { return text }
        }
    }

    /// SHA-256 of a secret, the form it is stored and looked up in.
    static func hash(_ secret: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(secret.utf8)))
    }

    /// Compares two byte strings in time independent of where they differ.
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}

/// Unpadded base64url (RFC 4648 §5), as JOSE uses it. Table-driven: it is on every token's path.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = UInt8(index) }
        return table
    }()

    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var output = [UInt8]()
        output.reserveCapacity((bytes.count * 4 + 2) / 3)
        var iterator = bytes.makeIterator()
        while let first = iterator.next() {
            let second = iterator.next()
            let third = iterator.next()
            output.append(alphabet[Int(first >> 2)])
            output.append(alphabet[Int((first & 0x03) << 4 | (second ?? 0) >> 4)])
            guard let second else { break }
            output.append(alphabet[Int((second & 0x0F) << 2 | (third ?? 0) >> 6)])
            guard let third else { break }
            output.append(alphabet[Int(third & 0x3F)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes standard base64 (RFC 4648 §4, as in HTTP Basic), padding optional; nil if invalid.
    public static func decodeStandard<Bytes: Collection>(_ input: Bytes) -> [UInt8]? where Bytes.Element == UInt8 {
        var translated = [UInt8]()
        translated.reserveCapacity(input.count)
        var padding = 0
        for character in input {
            switch character {
            case UInt8(ascii: "="): padding += 1
            case _ where padding > 0: return nil
            case UInt8(ascii: "+"): translated.append(UInt8(ascii: "-"))
            case UInt8(ascii: "/"): translated.append(UInt8(ascii: "_"))
            case UInt8(ascii: "-"), UInt8(ascii: "_"): return nil
            default: translated.append(character)
            }
        }
        guard padding <= 2 else { return nil }
        return decode(String(decoding: translated, as: UTF8.self))
    }

    /// Decodes strict unpadded base64url; nil for padding, the standard alphabet, stray bits or other input.
    public static func decode<S: StringProtocol>(_ text: S) -> [UInt8]? {
        let input = text.utf8
        guard input.count % 4 != 1 else { return nil }
        var output = [UInt8]()
        output.reserveCapacity(input.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for character in input {
            let value = values[Int(character)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero (RFC 4648 §3.5: canonical encoding).
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return output
    }
}
