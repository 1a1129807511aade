import Authority
import Logging
import Synchronization

/// Reads Client ID Metadata Documents for Authority through the safe fetcher (5 s, 5 KB, no
/// redirects). Authority keeps the clients it makes of them, as long as `Cache-Control` allows
/// within its bounds; here only failures are remembered (5 s), so a dead URL is not fetched on
/// every request. A failure is logged with its reason once per fetch; the caller sees one
/// `invalid_client` whatever the reason.
final class ClientDocumentFetcher: ClientDocumentResolver {
    private let fetcher: SafeFetcher
    private let failures = Mutex(DocumentCache(configuration: .init(lifetime: .zero)))
    private let logger: Logger

    init(fetcher: SafeFetcher, logger: Logger) {
        self.fetcher = fetcher
        self.logger = logger
    }

    func clientDocument(at url: String) async throws -> (text: String, maxAge: Int64?) {
        if case .failure(let error) = failures.withLock({ $0.lookup(url, at: .now, refresh: false) }) { throw error }
        do throws(FetchError) {
            let document = try await fetcher.fetchDocument(url, accept: "application/json", limits: .clientMetadata)
            return (try FetchedDocument.text(document.body), document.maxAge)
        } catch {
            logger.warning(
                "client metadata document fetch failed",
                metadata: [
                    "client_id": "\(FetchURL.logged(url))",
                    "reason": "\(error)",
                ])
            failures.withLock { $0.store(.failure(error), for: url, at: .now) }
            throw error
        }
    }
}
