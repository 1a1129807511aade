import NIOCore

/// What a load generator needs of a response: which request it answers, and whether it
/// succeeded. Decoding a whole token answer validates its 600-byte token as UTF-8 and allocates
/// every field: the largest single cost in the generator's profile.
public enum ResponseHeader {
    /// A successful response's `id` (field 1), read without decoding the rest: nil unless the bytes
    /// parse and carry no `status` (field 2) or an empty one (code OK).
    public static func successfulID(_ frame: ByteBuffer) -> UInt64? {
        var bytes = frame
        var id: UInt64 = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while shift < 64, let byte = bytes.readInteger(as: UInt8.self) {
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
            return nil
        }
        while bytes.readableBytes > 0 {
            guard let key = varint() else { return nil }
            switch key & 7 {
            case 0:
                guard let value = varint() else { return nil }
                if key >> 3 == 1 { id = value }
            case 1, 5:
                guard bytes.readSlice(length: key & 7 == 1 ? 8 : 4) != nil else { return nil }
            case 2:
                guard let length = varint(), length <= bytes.readableBytes,
                    bytes.readSlice(length: Int(length)) != nil
                else { return nil }
                if key >> 3 == 2, length > 0 { return nil }
            default:
                return nil
            }
        }
        return id
    }
}
