/// A URL the safe fetcher agrees to fetch, parsed strictly: `https://host[:port]/path?query`.
///
/// Parsed by hand rather than through Foundation, so that what is checked is exactly what is
/// used: the host that is resolved, sent as SNI and matched against the certificate, and the
/// request target sent on the wire. Refused: other schemes (http unless allowed), userinfo
/// (`https://user@host/` — credentials have no business in a client's URL, and `@` is the
/// classic way to make a URL read as another host), percent-encoded or non-ASCII hosts (IDNs
/// must arrive as punycode), IPv6 zones, numeric hosts that are not dotted quads (`127.1`,
/// `2130706433`), ports outside 1...65535, whitespace and control characters. A fragment is
/// dropped, as HTTP never sends it.
struct FetchURL: Sendable, Equatable, CustomStringConvertible {
    /// True for https.
    let usesTLS: Bool
    /// Lowercased; an IPv6 literal without its brackets.
    let host: String
    /// Set when the host is an address literal: it is connected to as is, never resolved.
    let literalAddress: IPAddress?
    let port: Int
    /// The request target: path and query, at least `/`.
    let target: String

    static let maxLength = 2048

    init(_ text: String, allowsHTTP: Bool) throws(FetchError) {
        func invalid(_ reason: String) -> FetchError { FetchError(.invalidURL, reason) }
        guard text.utf8.count <= Self.maxLength else { throw invalid("longer than \(Self.maxLength) bytes") }
        guard text.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw invalid("holds whitespace, control or non-ASCII characters")
        }
        guard let schemeEnd = text.range(of: "://") else { throw invalid("has no scheme") }
        switch text[..<schemeEnd.lowerBound].lowercased() {
        case "https": usesTLS = true
        case "http" where allowsHTTP: usesTLS = false
        case "http": throw invalid("is http; only https is fetched")
        default: throw invalid("scheme is not https")
        }
        var rest = text[schemeEnd.upperBound...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let target = rest[authorityEnd...]
        self.target = target.isEmpty ? "/" : target.hasPrefix("?") ? "/" + target : String(target)
        guard !authority.contains("@") else { throw invalid("carries userinfo") }

        let hostText: Substring
        let portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("has an unclosed [") }
            hostText = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.isEmpty {
                portText = nil
            } else if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else {
                throw invalid("has characters after the IPv6 literal")
            }
            guard let address = IPAddress(String(hostText)), !address.isIPv4 else {
                throw invalid("has an invalid IPv6 literal")
            }
            literalAddress = address
        } else {
            if let colon = authority.lastIndex(of: ":") {
                hostText = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                hostText = authority
                portText = nil
            }
            guard !hostText.isEmpty else { throw invalid("has no host") }
            guard hostText.utf8.allSatisfy({ Self.isHostByte($0) }) else {
                throw invalid("host has characters outside letters, digits, '-', '_' and '.'")
            }
            let lastLabel = hostText.split(separator: ".").last ?? ""
            if let address = IPAddress(String(hostText)) {
                literalAddress = address
            } else if !lastLabel.isEmpty, lastLabel.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
                // `127.1`, `2130706433`: inet_aton would read them as addresses; no DNS name ends in digits.
                throw invalid("host is a numeric form other than a dotted quad")
            } else {
                literalAddress = nil
            }
        }
        host = hostText.lowercased()
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
                let port = Int(portText), (1...65535).contains(port)
            else { throw invalid("port is not a number from 1 to 65535") }
            self.port = port
        } else {
            port = usesTLS ? 443 : 80
        }
    }

    private static func isHostByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
            true
        default: false
        }
    }

    var isDefaultPort: Bool { port == (usesTLS ? 443 : 80) }

    /// The `Host` header (RFC 9110 §7.2): brackets around IPv6, the port only when not the default.
    var hostHeader: String {
        let name = literalAddress.map { $0.isIPv4 ? host : "[\(host)]" } ?? host
        return isDefaultPort ? name : "\(name):\(port)"
    }

    /// `url` as `description` writes it, or a note that it does not parse: for the log.
    static func logged(_ url: String) -> String {
        (try? FetchURL(url, allowsHTTP: true))?.description ?? "(not a valid URL)"
    }

    /// Scheme, host, port and path, without the query, which may carry something secret: for the log.
    var description: String {
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "/"
        return "\(usesTLS ? "https" : "http")://\(hostHeader)\(path)"
    }
}
