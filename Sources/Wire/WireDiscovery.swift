import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// Finds the wire door from the product page's `AUTHSEC_DOMAIN`: a host (`auth.example.com`,
/// meaning `https://auth.example.com`) or an issuer URL. The server's RFC 8414 metadata names the
/// door in `authsec_wire_address`.
public enum WireDiscovery {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The metadata URL for `domain` (RFC 8414 §3: the well-known segment goes before any path).
    public static func metadataURL(for domain: String) throws -> String {
        let text = domain.contains("://") ? domain : "https://" + domain
        guard var url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
            ["http", "https"].contains(scheme), let host = url.host, !host.isEmpty, url.query == nil,
            url.fragment == nil, url.user == nil
        else {
            throw Failure(description: "AUTHSEC_DOMAIN '\(domain)' is neither a host name nor an http(s) issuer URL")
        }
        var path = url.path
        while path.hasSuffix("/") { path.removeLast() }
        url.path = "/.well-known/oauth-authorization-server" + path
        // A URL assembled from valid components is valid.
        return url.string ?? text
    }

    /// `host` and `port` of the wire door named in a metadata document.
    public static func address(fromMetadata data: Data) throws -> (host: String, port: Int) {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Failure(description: "the server's metadata is not a JSON object")
        }
        guard let address = object["authsec_wire_address"] as? String else {
            throw Failure(description: "the server's metadata does not advertise authsec_wire_address")
        }
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port)
        else { throw Failure(description: "authsec_wire_address '\(address)' is not HOST:PORT") }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw Failure(description: "authsec_wire_address '\(address)' has no host") }
        return (host, port)
    }

    /// Fetches `domain`'s metadata and returns its wire door. `caFile` (PEM) is trusted instead of
    /// the system's CA store, as for the wire door itself.
    public static func wireAddress(domain: String, caFile: String? = nil, timeout: TimeAmount = .seconds(10))
        async throws -> (host: String, port: Int)
    {
        let url = try metadataURL(for: domain)
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        // The client retries a refused connection until the deadline: keep both short.
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(2)))
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            configuration.tlsConfiguration = tls
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        defer { client.shutdown { _ in } }
        let body: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: timeout)
            guard response.status == .ok else {
                throw Failure(description: "\(url) answered \(response.status.code)")
            }
            body = try await response.body.collect(upTo: 1 << 20)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "cannot read \(url): \(error)")
        }
        return try address(fromMetadata: Data(body.readableBytesView))
    }
}
