import Foundation

/// A fetched body and how long its server says it may be kept.
struct FetchedDocument: Sendable {
    let body: [UInt8]
    /// Seconds from `Cache-Control` (RFC 9111 §5.2.2): `max-age`, or 0 for `no-store` and
    /// `no-cache`; nil when the response says nothing.
    let maxAge: Int64?

    /// `body` as text; a document that is not UTF-8 is a malformed response.
    static func text(_ body: [UInt8]) throws(FetchError) -> String {
        guard let text = String(validating: body, as: UTF8.self) else {
            throw FetchError(.malformedResponse, "the document is not UTF-8")
        }
        return text
    }

    static func maxAge(cacheControl: String) -> Int64? {
        var maxAge: Int64?
        for directive in cacheControl.lowercased().split(separator: ",") {
            let parts = directive.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            switch parts.first {
            case "no-store", "no-cache": return 0
            case "max-age" where parts.count == 2:
                maxAge = Int64(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))).map { max(0, $0) }
            default: continue
            }
        }
        return maxAge
    }
}
