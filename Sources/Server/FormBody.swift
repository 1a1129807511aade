import Authority

/// An `application/x-www-form-urlencoded` body (RFC 6749 Appendix B), strictly parsed.
struct FormBody {
    /// Parameters in the order sent. OAuth requests carry a handful, so a linear search beats
    /// hashing; the cap keeps the repeat check cheap for any body.
    private(set) var fields: [(name: String, value: String)] = []

    static let maxParameters = 100

    /// Parameters that may repeat (RFC 8707 `resource`, and `audience`); any other repeated
    /// parameter is `invalid_request` (RFC 6749 §3.2).
    static let repeatable: Set<String> = ["resource", "audience"]

    init(_ text: String) throws(AuthorityError) {
        var text = text
        // Scan the bytes: splitting a String walks grapheme clusters, which for a 600-byte token
        // costs more than the rest of an introspection.
        let fields = text.withUTF8 { Self.parse($0) }
        guard let fields else {
            throw AuthorityError(.invalidRequest, "the form body is not valid application/x-www-form-urlencoded")
        }
        guard fields.count <= Self.maxParameters else {
            throw AuthorityError(.invalidRequest, "the form body has more than \(Self.maxParameters) parameters")
        }
        for (index, field) in fields.enumerated()
        where !Self.repeatable.contains(field.name) && fields[..<index].contains(where: { $0.name == field.name }) {
            throw AuthorityError(.invalidRequest, "parameter '\(field.name)' is repeated")
        }
        self.fields = fields
    }

    /// The parameters of a form body or query string, strictly parsed (a repeated parameter is
    /// refused as in `init`).
    static func parameters(_ text: String) -> Result<[(name: String, value: String)], AuthorityError> {
        Result { () throws(AuthorityError) in try FormBody(text).fields }
    }

    /// The parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    subscript(name: String) -> String? {
        guard let value = fields.first(where: { $0.name == name })?.value, !value.isEmpty else { return nil }
        return value
    }

    func all(_ name: String) -> [String] { fields.filter { $0.name == name && !$0.value.isEmpty }.map(\.value) }

    /// The `name=value` pairs between `&`s, decoded; nil if any is malformed. Stops counting
    /// past the cap so a huge body costs no more than a scan.
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> [(name: String, value: String)]? {
        var fields: [(name: String, value: String)] = []
        var start = 0
        while start < bytes.count, fields.count <= maxParameters {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.count
            if end > start {
                let pair = bytes[start..<end]
                let equals = pair.firstIndex(of: UInt8(ascii: "=")) ?? end
                guard let name = decode(bytes[start..<equals]),
                    let value = decode(equals < end ? bytes[(equals + 1)..<end] : bytes[end..<end])
                else { return nil }
                fields.append((name, value))
            }
            start = end + 1
        }
        return fields
    }

    /// Percent-decodes, with `+` as a space; nil for a bad escape or bytes that are not UTF-8.
    private static func decode(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> String? {
        guard bytes.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(validating: bytes, as: UTF8.self)
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            switch bytes[index] {
            case UInt8(ascii: "+"):
                decoded.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard index + 2 < bytes.endIndex, let high = hexValue(bytes[index + 1]),
                    let low = hexValue(bytes[index + 2])
                else { return nil }
                decoded.append(high << 4 | low)
                index += 2
            case let byte:
                decoded.append(byte)
            }
            index += 1
        }
        return String(validating: decoded, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
