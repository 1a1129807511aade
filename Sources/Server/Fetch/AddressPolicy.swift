/// Which addresses a URL fetched on a client's behalf may connect to: public unicast only.
///
/// A client chooses the URLs we fetch (`jwks_uri`, later Client ID Metadata Documents), so
/// without this rule it could make the server reach its own loopback services, the private
/// network behind it or a cloud metadata endpoint (`169.254.169.254`) — server-side request
/// forgery. The rule is pure: it decides over the bytes of an address that was already
/// resolved, and the fetcher connects to exactly those bytes, so a DNS answer that changes
/// between check and use (rebinding) cannot get past it.
///
/// IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated
/// `::ffff:0:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`)
/// are judged by the IPv4 address inside. Any other IPv6 address outside global unicast
/// (`2000::/3`) is refused, so an unlisted reserved range fails closed.
struct AddressPolicy: Sendable {
    /// Lets loopback and private networks (127/8, ::1, 10/8, 172.16/12, 192.168/16, fc00::/7)
    /// through, for `--allow-insecure-client-metadata` (development and tests). Link-local,
    /// multicast, unspecified and the rest stay refused either way.
    var allowsPrivateNetworks = false

    /// A refused range, named for the log.
    struct Range: Sendable, Equatable, CustomStringConvertible {
        enum Kind: Sendable, Equatable {
            case loopback, privateNetwork, other
        }
        let name: String
        let prefix: IPAddress
        let length: Int
        let kind: Kind

        func contains(_ address: IPAddress) -> Bool {
            guard address.bytes.count == prefix.bytes.count else { return false }
            var remaining = length
            for (a, p) in zip(address.bytes, prefix.bytes) where remaining > 0 {
                let bits = min(remaining, 8)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                guard a & mask == p & mask else { return false }
                remaining -= bits
            }
            return true
        }

        var description: String { "\(name) (\(prefix)/\(length))" }
    }

    /// The outcome for one address; refusals name the range (and the embedding form, if any).
    enum Verdict: Sendable, Equatable {
        case allowed
        case refused(String)
    }

    func verdict(for address: IPAddress) -> Verdict {
        guard let (range, via) = Self.refusedRange(containing: address) else { return .allowed }
        if allowsPrivateNetworks, range.kind == .loopback || range.kind == .privateNetwork { return .allowed }
        return .refused(via.map { "\(range) embedded in \($0)" } ?? range.description)
    }

    /// The verdict for everything a host resolved to: refused if **any** address is (or there
    /// are none), rather than trusting the order in which the addresses would be tried — a name
    /// that mixes a public address with an internal one is refused whole.
    func verdict(for addresses: [IPAddress]) -> (Verdict, IPAddress?) {
        guard !addresses.isEmpty else { return (.refused("no address"), nil) }
        for address in addresses {
            let verdict = verdict(for: address)
            if verdict != .allowed { return (verdict, address) }
        }
        return (.allowed, nil)
    }

    /// The refused range holding `address`, and the IPv6 form it was embedded in, if any; nil
    /// for a public unicast address.
    static func refusedRange(containing address: IPAddress) -> (Range, via: String?)? {
        if address.isIPv4 {
            return ipv4Ranges.first { $0.contains(address) }.map { ($0, nil) }
        }
        if let exact = ipv6Exact.first(where: { $0.contains(address) }) { return (exact, nil) }
        for form in ipv6Embedding where form.range.contains(address) {
            let inner = form.embedded(address)
            guard let (range, _) = refusedRange(containing: inner) else { return nil }
            return (range, "\(form.range.name) \(address)")
        }
        if let range = ipv6Ranges.first(where: { $0.contains(address) }) { return (range, nil) }
        if !outsideGlobalUnicast.contains(address) { return (outsideGlobalUnicast, nil) }
        return nil
    }

    private static func range(_ name: String, _ prefix: String, _ length: Int, _ kind: Range.Kind = .other) -> Range {
        // Safe: every prefix below is a literal written in this file and covered by the tests.
        Range(name: name, prefix: IPAddress(prefix)!, length: length, kind: kind)
    }

    /// RFC 6890 special-purpose IPv4 ranges, plus multicast and the reserved class E.
    static let ipv4Ranges: [Range] = [
        range("unspecified", "0.0.0.0", 8),
        range("private", "10.0.0.0", 8, .privateNetwork),
        range("shared address space (CGNAT)", "100.64.0.0", 10),
        range("loopback", "127.0.0.0", 8, .loopback),
        range("link-local", "169.254.0.0", 16),
        range("private", "172.16.0.0", 12, .privateNetwork),
        range("IETF protocol assignments", "192.0.0.0", 24),
        range("documentation", "192.0.2.0", 24),
        range("6to4 relay anycast", "192.88.99.0", 24),
        range("private", "192.168.0.0", 16, .privateNetwork),
        range("benchmarking", "198.18.0.0", 15),
        range("documentation", "198.51.100.0", 24),
        range("documentation", "203.0.113.0", 24),
        range("multicast", "224.0.0.0", 4),
        range("broadcast", "255.255.255.255", 32),
        range("reserved", "240.0.0.0", 4),
    ]

    /// IPv6 addresses checked before the embedding forms, which they overlap (`::/96`).
    static let ipv6Exact: [Range] = [
        range("unspecified", "::", 128),
        range("loopback", "::1", 128, .loopback),
    ]

    /// IPv6 forms that embed an IPv4 address, judged by it.
    static let ipv6Embedding: [(range: Range, embedded: @Sendable (IPAddress) -> IPAddress)] = [
        (range("IPv4-mapped", "::ffff:0:0", 96), { $0.lastFourBytes }),
        (range("IPv4-translated", "::ffff:0:0:0", 96), { $0.lastFourBytes }),
        (range("IPv4-compatible", "::", 96), { $0.lastFourBytes }),
        (range("NAT64", "64:ff9b::", 96), { $0.lastFourBytes }),
        // Safe: bytes 2...5 are four bytes.
        (range("6to4", "2002::", 16), { IPAddress(bytes: Array($0.bytes[2...5]))! }),
    ]

    /// RFC 6890 special-purpose IPv6 ranges inside or beside global unicast.
    static let ipv6Ranges: [Range] = [
        range("local-use NAT64", "64:ff9b:1::", 48),
        range("discard-only", "100::", 64),
        range("IETF protocol assignments (Teredo, benchmarking, ORCHID)", "2001::", 23),
        range("documentation", "2001:db8::", 32),
        range("documentation", "3fff::", 20),
        range("unique local (private)", "fc00::", 7, .privateNetwork),
        range("link-local", "fe80::", 10),
        range("site-local", "fec0::", 10),
        range("multicast", "ff00::", 8),
    ]

    /// Refuses, by its complement, every IPv6 address outside global unicast that no entry above
    /// names, so a range left off the lists fails closed. (Used as "not in", not "in".)
    static let outsideGlobalUnicast = range("outside global unicast", "2000::", 3)
}
