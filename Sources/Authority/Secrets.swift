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
        var generator = SystemRandomNumberGenerator()
        while true {
            let bytes = (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let text = Base64URL.encode(bytes)
            if let first = text.first, first != "-", first != "_" { return text }
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

/// Unpadded base64url (RFC 4648 §5), as JOSE uses it.
public enum Base64URL {
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes strict base64url; nil for padding, standard-alphabet or invalid input.
    public static func decode<S: StringProtocol>(_ text: S) -> [UInt8]? {
        guard text.utf8.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F })
        else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        switch base64.utf8.count % 4 {
        case 2: base64 += "=="
        case 3: base64 += "="
        case 1: return nil
        default: break
        }
        return Data(base64Encoded: base64).map { Array($0) }
    }
}
