import Testing

@testable import Server

/// The address rule over parsed addresses, with no traffic: none of these is ever connected to.
@Suite struct AddressPolicyTests {
    static let refused = [
        "169.254.169.254", "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "127.0.0.1", "0.0.0.0",
        "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00::1", "ff02::1", "::ffff:127.0.0.1",
        "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::",
        // and the rest of the ranges, each at least once
        "127.255.255.254", "10.255.255.255", "172.31.255.255", "192.168.0.0", "100.127.255.255", "169.254.0.1",
        "0.1.2.3", "192.0.0.8", "192.0.2.1", "198.51.100.7", "203.0.113.9", "198.18.0.1", "198.19.255.255",
        "192.88.99.1", "239.255.255.250", "240.0.0.1", "254.1.2.3", "fc00::1", "fdff:ffff::1", "febf::1", "fec0::1",
        "ff05::2", "2001:db8::1", "3fff::1", "100::1", "2001::1", "2001:2::1", "64:ff9b:1::1",
        // IPv4 inside IPv6, every form
        "::ffff:169.254.169.254", "::ffff:0:127.0.0.1", "::127.0.0.1", "::0.0.0.1", "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:c0a8:101:1::1",
        // outside global unicast, unlisted
        "4000::1", "8000::1", "e000::1", "1::1",
    ]

    static let allowed = [
        "8.8.8.8", "1.1.1.1", "2606:4700::1111", "93.184.216.34",
        // just outside the ranges
        "172.15.255.255", "172.32.0.0", "100.63.255.255", "100.128.0.0", "198.17.255.255", "198.20.0.0",
        "192.0.1.255", "192.169.0.1", "11.0.0.1",
        "223.255.255.255", "126.255.255.255", "128.0.0.1", "169.253.255.255",
        // public IPv4 inside IPv6
        "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "::8.8.8.8",
        "2001:200::1", "2a00:1450::1", "3ffe::1",
    ]

    @Test(arguments: refused) func refusesNonPublicAddresses(_ text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(AddressPolicy().verdict(for: address) != .allowed, "\(text) must be refused")
    }

    @Test(arguments: allowed) func allowsPublicAddresses(_ text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(AddressPolicy().verdict(for: address) == .allowed, "\(text) must be allowed")
    }

    /// `--allow-insecure-client-metadata` opens loopback and private networks, nothing else.
    @Test func theInsecureFlagAllowsLoopbackAndPrivateOnly() throws {
        let insecure = AddressPolicy(allowsPrivateNetworks: true)
        for text in [
            "127.0.0.1", "::1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "fd00::1", "::ffff:127.0.0.1",
            "64:ff9b::a00:1", "8.8.8.8",
        ] {
            #expect(insecure.verdict(for: try #require(IPAddress(text))) == .allowed, "\(text)")
        }
        for text in [
            "169.254.169.254", "0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "fe80::1", "ff02::1", "100.64.0.1",
            "::ffff:169.254.169.254", "198.18.0.1",
        ] {
            #expect(insecure.verdict(for: try #require(IPAddress(text))) != .allowed, "\(text)")
        }
    }

    /// The log says which range refused an address, and through which IPv6 form.
    @Test func aRefusalNamesTheRange() throws {
        func reason(_ text: String) throws -> String {
            guard case .refused(let reason) = AddressPolicy().verdict(for: try #require(IPAddress(text))) else {
                return "allowed"
            }
            return reason
        }
        #expect(try reason("169.254.169.254") == "link-local (169.254.0.0/16)")
        #expect(try reason("127.0.0.1") == "loopback (127.0.0.0/8)")
        #expect(try reason("::ffff:10.0.0.1") == "private (10.0.0.0/8) embedded in IPv4-mapped ::ffff:10.0.0.1")
        #expect(try reason("2002:a00:1::").hasPrefix("private (10.0.0.0/8) embedded in 6to4"))
        #expect(try reason("64:ff9b::a00:1").hasPrefix("private (10.0.0.0/8) embedded in NAT64"))
        #expect(try reason("255.255.255.255") == "broadcast (255.255.255.255/32)")
        #expect(try reason("4000::1") == "outside global unicast (2000::/3)")
    }

    /// Every resolved address is checked, not just the first one tried: a name that answers with
    /// a public address and an internal one (or with nothing) is refused whole.
    @Test func everyResolvedAddressMustPass() throws {
        let policy = AddressPolicy()
        let public1 = try #require(IPAddress("93.184.216.34"))
        let public2 = try #require(IPAddress("2606:4700::1111"))
        let metadata = try #require(IPAddress("169.254.169.254"))
        #expect(policy.verdict(for: [public1, public2]).0 == .allowed)
        #expect(
            policy.verdict(for: [public1, public2, metadata]) == (.refused("link-local (169.254.0.0/16)"), metadata))
        #expect(policy.verdict(for: [metadata, public1]).1 == metadata)
        #expect(policy.verdict(for: []).0 != .allowed)
    }

    /// Literals are strict: the spellings `inet_aton` would also accept are not addresses here
    /// (the URL parser refuses them as hosts), and bytes round-trip.
    @Test func literalsAreStrict() throws {
        for text in ["127.1", "0x7f000001", "2130706433", "[::1]", "fe80::1%eth0", "1.2.3.4.5", "", "01.2.3.256"] {
            #expect(IPAddress(text) == nil, "\(text)")
        }
        #expect(IPAddress("10.1.2.3")?.bytes == [10, 1, 2, 3])
        #expect(IPAddress("::ffff:10.0.0.1")?.bytes == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 0, 0, 1])
        #expect(IPAddress("2606:4700::1111")?.description == "2606:4700::1111")
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
    }
}
