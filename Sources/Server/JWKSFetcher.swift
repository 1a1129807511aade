import AsyncHTTPClient
import Authority
import Foundation
import NIOCore
import Synchronization

/// Fetches clients' `jwks_uri` documents: 2 s timeout, 64 KiB cap, cached for five minutes.
/// A failed fetch is remembered for 5 s, so a dead `jwks_uri` does not make every assertion
/// wait 2 s; a refresh (the client rotated its keys) refetches a copy at least 5 s old. Either
/// way a `jwks_uri` is fetched at most once per 5 s while it misbehaves.
final class JWKSFetcher: ClientKeyResolver {
    struct FetchError: Error, CustomStringConvertible {
        let description: String
    }

    private let cache = Mutex<[String: (fetchedAt: ContinuousClock.Instant, result: Result<String, FetchError>)]>([:])
    private let maxBytes = 64 * 1024
    private let ttl: Duration = .seconds(300)
    private let refetchAfter: Duration = .seconds(5)

    func jwks(at uri: String, refresh: Bool) async throws -> String {
        let now = ContinuousClock.now
        if let hit = cache.withLock({ $0[uri] }) {
            let age = now - hit.fetchedAt
            switch hit.result {
            case .success(let body) where age < (refresh ? refetchAfter : ttl): return body
            case .failure(let error) where age < refetchAfter: throw error
            default: break
            }
        }
        let result: Result<String, FetchError>
        do {
            result = .success(try await fetch(uri))
        } catch {
            result = .failure(error as? FetchError ?? FetchError(description: "\(error)"))
        }
        cache.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[uri] = (now, result)
        }
        return try result.get()
    }

    private func fetch(_ uri: String) async throws -> String {
        var request = HTTPClientRequest(url: uri)
        request.headers.add(name: "Accept", value: "application/jwk-set+json, application/json")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(2))
        guard response.status == .ok else { throw FetchError(description: "jwks_uri answered \(response.status.code)") }
        do {
            return String(buffer: try await response.body.collect(upTo: maxBytes))
        } catch is NIOTooManyBytesError {
            throw FetchError(description: "jwks_uri document exceeds \(maxBytes) bytes")
        }
    }
}
