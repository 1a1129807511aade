#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 or IPv6 address as its bytes in network order: 4 for IPv4, 16 for IPv6.
///
/// The address policy decides over these bytes, never over text, so no spelling of an address
/// (`0x7f.1`, `::ffff:7f00:1`, `[::1]`) can get past it: the fetcher connects to exactly the
/// bytes that were checked.
struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 (IPv6), network order.
    let bytes: [UInt8]

    var isIPv4: Bool { bytes.count == 4 }

    /// `bytes` must hold 4 or 16 bytes; any other count gives nil.
    init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses a strict literal: dotted-quad IPv4 (`192.0.2.1`) or IPv6 (`2001:db8::1`,
    /// `::ffff:192.0.2.1`), as `inet_pton` reads them. Brackets, zones and the legacy IPv4
    /// forms `inet_aton` accepts (`127.1`, `0x7f000001`) are not literals here.
    init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    /// The IPv4 address in the low four bytes of an IPv6 address, for the embedding forms.
    var lastFourBytes: IPAddress {
        // Safe: four bytes always make an IPv4 address.
        IPAddress(bytes: Array(bytes.suffix(4)))!
    }

    var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = isIPv4 ? AF_INET : AF_INET6
        let written = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &text, socklen_t(text.count))
        }
        guard written != nil else { return bytes.map(String.init).joined(separator: ".") }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
