import Authority

/// An `application/x-www-form-urlencoded` body (RFC 6749 Appendix B), strictly parsed.
struct FormBody {
    private(set) var values: [String: [String]] = [:]

    /// Parameters that may repeat (RFC 8707 `resource`, and `audience`); any other repeated
    /// parameter is `invalid_request` (RFC 6749 §3.2).
    static let repeatable: Set<String> = ["resource", "audience"]

    init(_ text: String) throws(AuthorityError) {
        // Split on bytes: splitting a String walks grapheme clusters, which for a 600-byte token
        // costs more than the rest of an introspection.
        for pair in text.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(Substring(parts[0])),
                let value = Self.decode(parts.count > 1 ? Substring(parts[1]) : "")
            else {
                throw AuthorityError(.invalidRequest, "the form body is not valid application/x-www-form-urlencoded")
            }
            if values[name] != nil, !Self.repeatable.contains(name) {
                throw AuthorityError(.invalidRequest, "parameter '\(name)' is repeated")
            }
            values[name, default: []].append(value)
        }
    }

    /// The parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    subscript(name: String) -> String? {
        guard let value = values[name]?.first, !value.isEmpty else { return nil }
        return value
    }

    func all(_ name: String) -> [String] { (values[name] ?? []).filter { !$0.isEmpty } }

    private static func decode(_ text: Substring) -> String? {
        // Most values need no decoding; Foundation's string search would dominate the request.
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(text)
        }
        return text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}

import Foundation
