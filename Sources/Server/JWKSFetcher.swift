import AsyncHTTPClient
import Authority
import Foundation
import NIOCore
import Synchronization

/// Fetches clients' `jwks_uri` documents: 2 s timeout, 64 KiB cap, cached for five minutes.
final class JWKSFetcher: ClientKeyResolver {
    struct FetchError: Error, CustomStringConvertible {
        let description: String
    }

    private let cache = Mutex<[String: (fetchedAt: ContinuousClock.Instant, body: String)]>([:])
    private let maxBytes = 64 * 1024
    private let ttl: Duration = .seconds(300)

    func jwks(at uri: String) async throws -> String {
        let now = ContinuousClock.now
        if let hit = cache.withLock({ $0[uri] }), now - hit.fetchedAt < ttl { return hit.body }
        var request = HTTPClientRequest(url: uri)
        request.headers.add(name: "Accept", value: "application/jwk-set+json, application/json")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(2))
        guard response.status == .ok else { throw FetchError(description: "jwks_uri answered \(response.status.code)") }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: maxBytes)
        } catch is NIOTooManyBytesError {
            throw FetchError(description: "jwks_uri document exceeds \(maxBytes) bytes")
        }
        let text = String(buffer: body)
        cache.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[uri] = (now, text)
        }
        return text
    }
}
