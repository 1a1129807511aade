import Synchronization

/// Caches that keep the store and the slow crypto off the hot paths.
///
/// - Secrets: SHA-256(secret) → the client it authenticates. Every client change bumps
///   `generation`, and an entry from an older generation is never used, so an update, deletion
///   or rotation takes effect on the next request.
/// - Verified tokens: token text → claims. Only signature and claim parsing are cached;
///   revocation and expiry are still checked on every call.
///
/// Both are bounded: when full they are emptied (cheap, and the next requests refill them).
final class HotPathCaches: Sendable {
    struct SecretEntry: Sendable {
        let client: Client
        let expiresAt: Int64
        let generation: UInt64
    }

    static let maxSecrets = 100_000
    static let maxTokens = 200_000

    private let secrets = Mutex<[[UInt8]: SecretEntry]>([:])
    private let tokens = Mutex<[String: AccessTokenClaims]>([:])
    private let generationCounter = Atomic<UInt64>(0)

    /// Read before consulting the store, so an entry built from data older than a change is stale.
    var generation: UInt64 { generationCounter.load(ordering: .acquiring) }

    /// Invalidates every cached secret; call after a client change has committed.
    func clientsChanged() {
        generationCounter.add(1, ordering: .releasing)
    }

    func secret(_ hash: [UInt8]) -> SecretEntry? {
        let current = generation
        guard let entry = secrets.withLock({ $0[hash] }), entry.generation == current else { return nil }
        return entry
    }

    func remember(_ hash: [UInt8], _ entry: SecretEntry) {
        secrets.withLock { cache in
            if cache.count >= Self.maxSecrets { cache.removeAll(keepingCapacity: true) }
            cache[hash] = entry
        }
    }

    func verified(_ token: String) -> AccessTokenClaims? {
        tokens.withLock { $0[token] }
    }

    func remember(_ token: String, _ claims: AccessTokenClaims) {
        tokens.withLock { cache in
            if cache.count >= Self.maxTokens { cache.removeAll(keepingCapacity: true) }
            cache[token] = claims
        }
    }

    /// Forgets verified tokens (after keys change, so a removed key stops verifying at once).
    func keysChanged() {
        tokens.withLock { $0.removeAll() }
    }
}
