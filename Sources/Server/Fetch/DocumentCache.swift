/// Fetched documents (and failed fetches) by URL, bounded in entries and in bytes.
///
/// Pure bookkeeping over instants the caller passes in, so its policy is tested with a made-up
/// clock. The policy, for a client's `jwks_uri`:
/// - a document is served for `lifetime` (five minutes);
/// - a failure is remembered for `failureLifetime` (5 s), so a dead URL does not make every
///   request wait out the fetch deadline;
/// - a refresh (an assertion failed against the cached keys: the client may have rotated them)
///   refetches a copy at least `refreshAfter` (5 s) old.
/// Either way a URL is fetched at most once per 5 s while it misbehaves.
///
/// When a store goes over `maxEntries` or `maxBytes`, expired entries go first, then the oldest,
/// down to three quarters of both bounds (so eviction is rare and its cost amortized).
struct DocumentCache: Sendable {
    struct Configuration: Sendable {
        var lifetime: Duration = .seconds(300)
        var failureLifetime: Duration = .seconds(5)
        var refreshAfter: Duration = .seconds(5)
        var maxEntries = 4096
        var maxBytes = 16 << 20
    }

    enum Lookup: Equatable {
        case document(String)
        case failure(FetchError)
        case miss
    }

    private struct Entry {
        let storedAt: ContinuousClock.Instant
        let result: Result<String, FetchError>
        let cost: Int
    }

    let configuration: Configuration
    private var entries: [String: Entry] = [:]
    private(set) var totalBytes = 0
    var count: Int { entries.count }

    init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// What the cache holds for `url` at `now`; `refresh` asks for a copy younger than `refreshAfter`.
    func lookup(_ url: String, at now: ContinuousClock.Instant, refresh: Bool) -> Lookup {
        guard let entry = entries[url] else { return .miss }
        let age = now - entry.storedAt
        switch entry.result {
        case .success(let document) where age < (refresh ? configuration.refreshAfter : configuration.lifetime):
            return .document(document)
        case .failure(let error) where age < configuration.failureLifetime:
            return .failure(error)
        default:
            return .miss
        }
    }

    mutating func store(_ result: Result<String, FetchError>, for url: String, at now: ContinuousClock.Instant) {
        let payload: Int
        switch result {
        case .success(let document): payload = document.utf8.count
        case .failure(let error): payload = error.message.utf8.count
        }
        // Counts the key and a rough per-entry overhead, so many tiny entries are bounded too.
        let cost = url.utf8.count + payload + 128
        if let old = entries.removeValue(forKey: url) { totalBytes -= old.cost }
        guard cost <= configuration.maxBytes else { return }
        entries[url] = Entry(storedAt: now, result: result, cost: cost)
        totalBytes += cost
        if entries.count > configuration.maxEntries || totalBytes > configuration.maxBytes { evict(at: now) }
    }

    private mutating func evict(at now: ContinuousClock.Instant) {
        for (url, entry) in entries where isExpired(entry, at: now) {
            entries[url] = nil
            totalBytes -= entry.cost
        }
        let entryTarget = configuration.maxEntries * 3 / 4
        let byteTarget = configuration.maxBytes * 3 / 4
        guard entries.count > entryTarget || totalBytes > byteTarget else { return }
        for (url, entry) in entries.sorted(by: { $0.value.storedAt < $1.value.storedAt }) {
            guard entries.count > entryTarget || totalBytes > byteTarget else { break }
            entries[url] = nil
            totalBytes -= entry.cost
        }
    }

    private func isExpired(_ entry: Entry, at now: ContinuousClock.Instant) -> Bool {
        switch entry.result {
        case .success: now - entry.storedAt >= configuration.lifetime
        case .failure: now - entry.storedAt >= configuration.failureLifetime
        }
    }
}
