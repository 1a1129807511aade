/// Who may read `/metrics`: loopback by default, or the ranges given with `--metrics-allow`.
struct MetricsAccess: Sendable {
    struct InvalidRange: Error, CustomStringConvertible {
        let text: String
        var description: String { "--metrics-allow: '\(text)' is not an address or CIDR range (10.0.0.0/8, fd00::/8)" }
    }

    let ranges: [AddressPolicy.Range]

    /// Loopback only: 127.0.0.0/8 and ::1.
    static let loopback = MetricsAccess(
        ranges: AddressPolicy.ipv4Ranges.filter { $0.kind == .loopback }
            + [AddressPolicy.Range(name: "loopback", prefix: IPAddress("::1")!, length: 128, kind: .loopback)])

    init(ranges: [AddressPolicy.Range]) {
        self.ranges = ranges
    }

    /// Ranges written `ADDRESS[/LENGTH]`; an address alone is itself only. None means loopback.
    init(cidrs: [String]) throws {
        guard !cidrs.isEmpty else {
            self = .loopback
            return
        }
        ranges = try cidrs.map { text in
            let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
            guard let prefix = parts.first.flatMap({ IPAddress($0) }) else { throw InvalidRange(text: text) }
            let bits = prefix.bytes.count * 8
            let length = parts.count == 2 ? Int(parts[1]) : bits
            guard let length, (0...bits).contains(length) else { throw InvalidRange(text: text) }
            return AddressPolicy.Range(name: "--metrics-allow \(text)", prefix: prefix, length: length, kind: .other)
        }
    }

    /// Whether a peer (an address as `CallContext.peer` holds it) may read the metrics. An
    /// IPv4-mapped IPv6 peer counts as its IPv4 address.
    func allows(_ peer: String) -> Bool {
        guard var address = IPAddress(peer) else { return false }
        if !address.isIPv4, address.bytes.prefix(12).elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]) {
            address = address.lastFourBytes
        }
        return ranges.contains { $0.contains(address) }
    }
}
