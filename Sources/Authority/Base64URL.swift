/// Unpadded base64url (RFC 4648 §5), as JOSE uses it, and standard base64 (§4) for HTTP Basic.
/// Table-driven over contiguous bytes: it is on every token's path.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let urlValues = table(for: alphabet)
    private static let standardValues = table(
        for: Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8))

    private static func table(for alphabet: [UInt8]) -> [UInt8] {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = UInt8(index) }
        return table
    }

    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var output = [UInt8]()
        append(bytes, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Appends the encoding of `bytes` to `output`.
    public static func append<Bytes: Sequence>(_ bytes: Bytes, to output: inout [UInt8])
    where Bytes.Element == UInt8 {
        let appended = bytes.withContiguousStorageIfAvailable { append(UnsafeRawBufferPointer($0), to: &output) }
        if appended == nil { append(Array(bytes), to: &output) }
    }

    static func append(_ bytes: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        output.reserveCapacity(output.count + (bytes.count * 4 + 2) / 3)
        alphabet.withUnsafeBufferPointer { alphabet in
            var index = 0
            while index + 3 <= bytes.count {
                let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
                output.append(alphabet[Int(chunk >> 18)])
                output.append(alphabet[Int(chunk >> 12 & 0x3F)])
                output.append(alphabet[Int(chunk >> 6 & 0x3F)])
                output.append(alphabet[Int(chunk & 0x3F)])
                index += 3
            }
            switch bytes.count - index {
            case 1:
                let chunk = UInt32(bytes[index]) << 16
                output.append(alphabet[Int(chunk >> 18)])
                output.append(alphabet[Int(chunk >> 12 & 0x3F)])
            case 2:
                let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
                output.append(alphabet[Int(chunk >> 18)])
                output.append(alphabet[Int(chunk >> 12 & 0x3F)])
                output.append(alphabet[Int(chunk >> 6 & 0x3F)])
            default:
                break
            }
        }
    }

    /// Decodes strict unpadded base64url; nil for padding, the standard alphabet, stray bits or other input.
    public static func decode<S: StringProtocol>(_ text: S) -> [UInt8]? {
        decode(text.utf8, values: urlValues)
    }

    /// Decodes standard base64 (RFC 4648 §4, as in HTTP Basic), padding optional; nil if invalid.
    public static func decodeStandard<Bytes: BidirectionalCollection>(_ input: Bytes) -> [UInt8]?
    where Bytes.Element == UInt8 {
        var unpadded = input[...]
        var padding = 0
        while padding < 2, unpadded.last == UInt8(ascii: "=") {
            unpadded = unpadded.dropLast()
            padding += 1
        }
        // Padding, when present, must make the length a multiple of 4.
        guard padding == 0 || (unpadded.count + padding) % 4 == 0 else { return nil }
        return decode(unpadded, values: standardValues)
    }

    private static func decode<Bytes: Collection>(_ input: Bytes, values: [UInt8]) -> [UInt8]?
    where Bytes.Element == UInt8 {
        guard input.count % 4 != 1 else { return nil }
        var output = [UInt8]()
        output.reserveCapacity(input.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        let valid = values.withUnsafeBufferPointer { values in
            for character in input {
                let value = values[Int(character)]
                guard value != 0xFF else { return false }
                accumulator = accumulator << 6 | UInt32(value)
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                }
            }
            return true
        }
        // Leftover bits must be zero (RFC 4648 §3.5: canonical encoding).
        guard valid, accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return output
    }
}
