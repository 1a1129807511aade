import Foundation
import Testing

@testable import Wire

/// `AUTHSEC_DOMAIN` → metadata URL → wire address, without the network.
@Suite struct WireDiscoveryTests {
    @Test(
        arguments: [
            ("auth.example.com", "https://auth.example.com/.well-known/oauth-authorization-server"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/.well-known/oauth-authorization-server"),
            ("https://auth.example.com/", "https://auth.example.com/.well-known/oauth-authorization-server"),
            // RFC 8414 §3: the well-known segment goes between the host and the issuer's path.
            ("https://example.com/tenant1", "https://example.com/.well-known/oauth-authorization-server/tenant1"),
        ])
    func metadataURLs(domain: String, url: String) throws {
        #expect(try WireDiscovery.metadataURL(for: domain) == url)
    }

    @Test(arguments: [
        "ftp://auth.example.com", "https://", "https://auth.example.com/?x=1", "https://u@auth.example.com",
    ])
    func domainsThatAreNoIssuerAreRefused(domain: String) {
        #expect(throws: WireDiscovery.Failure.self) { try WireDiscovery.metadataURL(for: domain) }
    }

    @Test func theWireAddressComesFromTheMetadata() throws {
        func address(_ json: String) throws -> (host: String, port: Int) {
            try WireDiscovery.address(fromMetadata: Data(json.utf8))
        }
        #expect(try address(#"{"authsec_wire_address":"127.0.0.1:7070"}"#) == ("127.0.0.1", 7070))
        #expect(try address(#"{"authsec_wire_address":"[::1]:7443"}"#) == ("::1", 7443))
        #expect(try address(#"{"authsec_wire_address":"auth.example.com:7070"}"#) == ("auth.example.com", 7070))
        for bad in [
            #"{"issuer":"x"}"#, #"{"authsec_wire_address":"no-port"}"#, #"{"authsec_wire_address":":7070"}"#, "[]",
        ] {
            #expect(throws: WireDiscovery.Failure.self, "\(bad)") { try address(bad) }
        }
    }
}
