import Logging
import Synchronization
import Testing

@testable import Server

/// The jwks_uri cache policy and its bounds, on a made-up clock and a fake fetch: no traffic.
@Suite struct JWKSFetcherTests {
    /// A clock the test moves, and a fetch that counts calls and answers what it is told.
    final class Harness: Sendable {
        struct State {
            var now = ContinuousClock.now
            var fetches: [String] = []
            var answer: Result<[UInt8], FetchError> = .success(Array(#"{"keys":[]}"#.utf8))
            var warnings: [String] = []
        }
        let state = Mutex(State())

        func advance(_ duration: Duration) { state.withLock { $0.now += duration } }
        func answer(_ result: Result<[UInt8], FetchError>) { state.withLock { $0.answer = result } }
        var fetches: Int { state.withLock { $0.fetches.count } }
        var warnings: [String] { state.withLock { $0.warnings } }

        func fetcher(cache: DocumentCache.Configuration = .init()) -> JWKSFetcher {
            let logger = Logger(label: "test") { _ in WarningRecorder(harness: self) }
            return JWKSFetcher(cache: cache, logger: logger, now: { self.state.withLock { $0.now } }) {
                url throws(FetchError) in
                try self.state.withLock { state in
                    state.fetches.append(url)
                    return state.answer
                }.get()
            }
        }
    }

    struct WarningRecorder: LogHandler {
        let harness: Harness
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            guard event.level >= .warning else { return }
            let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            harness.state.withLock { $0.warnings.append("\(event.message) \(fields.joined(separator: " "))") }
        }
    }

    let url = "https://keys.example.com/jwks.json?token=do-not-log"

    @Test func aDocumentIsServedForFiveMinutes() async throws {
        let harness = Harness()
        let fetcher = harness.fetcher()
        #expect(try await fetcher.jwks(at: url, refresh: false) == #"{"keys":[]}"#)
        harness.advance(.seconds(299))
        _ = try await fetcher.jwks(at: url, refresh: false)
        #expect(harness.fetches == 1)
        harness.advance(.seconds(1))
        _ = try await fetcher.jwks(at: url, refresh: false)
        #expect(harness.fetches == 2)
    }

    /// After a failed assertion, Authority asks for a refresh: a copy under 5 s old is served
    /// (so a stream of bad assertions cannot make us hammer the URL), an older one is refetched.
    @Test func aRefreshRefetchesACopyAtLeastFiveSecondsOld() async throws {
        let harness = Harness()
        let fetcher = harness.fetcher()
        _ = try await fetcher.jwks(at: url, refresh: false)
        harness.advance(.milliseconds(4900))
        _ = try await fetcher.jwks(at: url, refresh: true)
        #expect(harness.fetches == 1)
        harness.advance(.milliseconds(100))
        _ = try await fetcher.jwks(at: url, refresh: true)
        #expect(harness.fetches == 2)
    }

    /// A failure is remembered 5 s (refresh or not), logged once with its reason and without the
    /// URL's query, and thrown to Authority, which answers the client as for any bad assertion.
    @Test func aFailureIsRememberedFiveSecondsAndLoggedOnce() async throws {
        let harness = Harness()
        harness.answer(.failure(FetchError(.redirected, "answered 302; redirects are not followed")))
        let fetcher = harness.fetcher()
        await #expect(throws: FetchError.self) { _ = try await fetcher.jwks(at: url, refresh: false) }
        harness.advance(.milliseconds(4900))
        await #expect(throws: FetchError.self) { _ = try await fetcher.jwks(at: url, refresh: true) }
        #expect(harness.fetches == 1)
        #expect(
            harness.warnings == [
                "jwks_uri fetch failed jwks_uri=https://keys.example.com/jwks.json reason=redirect refused: answered 302; redirects are not followed"
            ])
        harness.answer(.success(Array(#"{"keys":[1]}"#.utf8)))
        harness.advance(.milliseconds(100))
        #expect(try await fetcher.jwks(at: url, refresh: false) == #"{"keys":[1]}"#)
        #expect(harness.fetches == 2)
    }

    @Test func aDocumentThatIsNotUTF8IsAFailure() async throws {
        let harness = Harness()
        harness.answer(.success([0x7B, 0xFF, 0x7D]))
        let fetcher = harness.fetcher()
        await #expect(throws: FetchError.self) { _ = try await fetcher.jwks(at: url, refresh: false) }
        #expect(harness.warnings.count == 1)
    }

    /// Many distinct URLs (a client per URL, or many failures) cannot grow the cache without bound.
    @Test func theCacheIsBoundedInEntriesAndBytes() async throws {
        let harness = Harness()
        harness.answer(.success([UInt8](repeating: 0x20, count: 1000)))
        let fetcher = harness.fetcher(cache: .init(maxEntries: 100, maxBytes: 50_000))
        for index in 0..<1000 {
            _ = try await fetcher.jwks(at: "https://keys\(index).example.com/jwks.json", refresh: false)
            let usage = fetcher.cacheUsage
            #expect(usage.entries <= 100 && usage.bytes <= 50_000, "after \(index): \(usage)")
            harness.advance(.milliseconds(1))
        }
        // The newest entry survives eviction; the oldest is gone.
        _ = try await fetcher.jwks(at: "https://keys999.example.com/jwks.json", refresh: false)
        #expect(harness.fetches == 1000)
        _ = try await fetcher.jwks(at: "https://keys0.example.com/jwks.json", refresh: false)
        #expect(harness.fetches == 1001)

        let entries = Harness().fetcher(cache: .init(maxEntries: 10, maxBytes: 1 << 30))
        for index in 0..<100 { _ = try await entries.jwks(at: "https://k\(index).example.com/", refresh: false) }
        #expect(entries.cacheUsage.entries <= 10)
    }

    @Test func documentCacheCountsReplacedEntriesOnce() {
        var cache = DocumentCache()
        let now = ContinuousClock.now
        cache.store(.success("abc"), for: "u", at: now)
        let once = cache.totalBytes
        cache.store(.success("abc"), for: "u", at: now)
        #expect(cache.totalBytes == once && cache.count == 1)
        #expect(cache.lookup("u", at: now, refresh: false) == .document("abc"))
        #expect(cache.lookup("v", at: now, refresh: false) == .miss)
    }
}
