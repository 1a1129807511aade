import Authority
import Logging
import Synchronization

/// Reads clients' `jwks_uri` documents for Authority, through the safe fetcher (2 s, 64 KiB)
/// and a bounded cache (``DocumentCache``: five minutes, failures remembered 5 s, a refresh
/// refetches a copy at least 5 s old).
///
/// A failed fetch is logged here with its reason, at warning level, once per actual fetch (a
/// remembered failure is not logged again). The caller only ever sees Authority's
/// `invalid_client` "client assertion rejected", the same answer as for a bad signature, so a
/// client cannot use its `jwks_uri` to probe what the server can reach.
final class JWKSFetcher: ClientKeyResolver {
    private let cache: Mutex<DocumentCache>
    private let logger: Logger
    private let now: @Sendable () -> ContinuousClock.Instant
    private let fetch: @Sendable (String) async throws(FetchError) -> [UInt8]

    convenience init(fetcher: SafeFetcher, logger: Logger) {
        self.init(logger: logger) { url throws(FetchError) in
            try await fetcher.fetch(url, accept: "application/jwk-set+json, application/json", limits: .jwksURI)
        }
    }

    /// - Parameters:
    ///   - now: the clock, injected so tests can age the cache.
    ///   - fetch: fetches one URL; the safe fetcher outside tests.
    init(
        cache: DocumentCache.Configuration = .init(), logger: Logger,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        fetch: @escaping @Sendable (String) async throws(FetchError) -> [UInt8]
    ) {
        self.cache = Mutex(DocumentCache(configuration: cache))
        self.logger = logger
        self.now = now
        self.fetch = fetch
    }

    func jwks(at uri: String, refresh: Bool) async throws -> String {
        switch cache.withLock({ $0.lookup(uri, at: now(), refresh: refresh) }) {
        case .document(let document): return document
        case .failure(let error): throw error
        case .miss: break
        }
        let result: Result<String, FetchError>
        do throws(FetchError) {
            result = .success(try FetchedDocument.text(try await fetch(uri)))
        } catch {
            logger.warning(
                "jwks_uri fetch failed",
                metadata: [
                    "jwks_uri": "\(FetchURL.logged(uri))",
                    "reason": "\(error)",
                ])
            result = .failure(error)
        }
        cache.withLock { $0.store(result, for: uri, at: now()) }
        return try result.get()
    }

    /// Entries and bytes held (for tests).
    var cacheUsage: (entries: Int, bytes: Int) { cache.withLock { ($0.count, $0.totalBytes) } }
}
