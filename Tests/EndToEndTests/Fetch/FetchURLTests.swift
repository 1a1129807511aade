import Testing

@testable import Server

/// What the safe fetcher agrees to fetch, decided from the URL text alone.
@Suite struct FetchURLTests {
    func code(_ text: String, allowsHTTP: Bool = false) -> FetchError.Code? {
        do {
            _ = try FetchURL(text, allowsHTTP: allowsHTTP)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func httpNeedsTheInsecureFlag() throws {
        #expect(code("http://example.com/jwks.json") == .invalidURL)
        #expect(code("HTTP://example.com/jwks.json") == .invalidURL)
        let allowed = try FetchURL("http://example.com/jwks.json", allowsHTTP: true)
        #expect(!allowed.usesTLS && allowed.port == 80)
        let https = try FetchURL("HTTPS://Keys.Example.COM/jwks.json", allowsHTTP: false)
        #expect(https.usesTLS && https.host == "keys.example.com" && https.port == 443)
    }

    @Test(arguments: [
        "https://user@example.com/jwks.json", "https://user:secret@example.com/jwks.json",
        "https://example.com@127.0.0.1/jwks.json", "https://@example.com/", "http://user@example.com/",
    ])
    func userinfoIsRefused(_ text: String) {
        #expect(code(text, allowsHTTP: true) == .invalidURL)
    }

    @Test func nonDefaultPortsAreAllowed() throws {
        let url = try FetchURL("https://keys.example.com:8443/jwks.json?v=2#frag", allowsHTTP: false)
        #expect(url.port == 8443)
        #expect(url.hostHeader == "keys.example.com:8443")
        #expect(url.target == "/jwks.json?v=2")
        let ipv6 = try FetchURL("https://[2606:4700::1111]:4443", allowsHTTP: false)
        #expect(ipv6.literalAddress == IPAddress("2606:4700::1111"))
        #expect(ipv6.hostHeader == "[2606:4700::1111]:4443")
        #expect(ipv6.target == "/")
        let defaultPort = try FetchURL("https://keys.example.com:443/jwks.json", allowsHTTP: false)
        #expect(defaultPort.hostHeader == "keys.example.com")
        #expect(try FetchURL("https://93.184.216.34/x", allowsHTTP: false).literalAddress == IPAddress("93.184.216.34"))
        #expect(try FetchURL("https://example.com?x=1", allowsHTTP: false).target == "/?x=1")
    }

    @Test(arguments: [
        "ftp://example.com/jwks.json", "file:///etc/passwd", "gopher://example.com/", "example.com/jwks.json",
        "//example.com/jwks.json", "https:/example.com/", "https://", "https:///jwks.json", "https://:443/",
        "https://example.com:0/", "https://example.com:65536/", "https://example.com:/", "https://example.com:x/",
        "https://example.com:-1/", "https://example.com:0443x/", "https://exa mple.com/", "https://example.com/a b",
        "https://ex%61mple.com/", "https://exämple.com/", "https://example.com\t/", "https://[::1/",
        "https://[fe80::1%25eth0]/", "https://[127.0.0.1]/", "https://[::1]x/", "https://::1/", "https://127.1/",
        "https://2130706433/", "https://0x7f.1/", "https://0177.0.0.1/", "https://example.com\\@evil/",
    ])
    func malformedOrAmbiguousURLsAreRefused(_ text: String) {
        #expect(code(text, allowsHTTP: true) == .invalidURL, "\(text)")
    }

    @Test func theLoggedFormHasNoQuery() throws {
        let url = try FetchURL("https://keys.example.com/jwks.json?token=secret", allowsHTTP: false)
        #expect(url.description == "https://keys.example.com/jwks.json")
        #expect(!url.description.contains("secret"))
    }
}
