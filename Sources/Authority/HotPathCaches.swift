import Crypto
import Synchronization

/// Caches that keep the store and the slow crypto off the hot paths.
///
/// - Secrets: SHA-256(secret) → the client it authenticates. Every client change bumps
///   `generation`, and an entry from an older generation is never used, so an update, deletion
///   or rotation takes effect on the next request.
/// - Verified tokens: SHA-256 of the whole token text → claims (a digest key keeps entries
///   small; the whole token, not a part, so a tampered payload never matches). Only signature
///   and claim parsing are cached; revocation and expiry are still checked on every call. Each
///   thread reads copies of its own (`recentTokens`) in front of the shared cache; a key change
///   bumps `keyGeneration` and empties both.
///
/// - Scope names: the registered scopes, which every issuance checks its scopes against. Scope
///   changes bump their own generation, as client changes do for secrets.
///
/// The first two are bounded in bytes (`secretBudget`, `tokenBudget`, and `recentTokenBudget` per
/// thread for the copies): when full they are emptied (cheap, and the next requests refill them).
/// A client change empties the secret cache at once, so a deleted client's entry is not kept, only
/// refused.
final class HotPathCaches: Sendable {
    struct SecretEntry: Sendable {
        let client: Client
        let expiresAt: Int64
        let generation: UInt64
    }

    struct ClientEntry: Sendable {
        let client: Client
        let generation: UInt64
    }

    static let secretBudget = 16 << 20
    static let clientBudget = 16 << 20
    /// Large enough for about 100,000 distinct tokens in use (an entry costs ~600 bytes).
    static let tokenBudget = 64 << 20
    /// Per thread (16 at most): about 800 tokens each.
    static let recentTokenBudget = 512 << 10

    private let secrets = Mutex(ByteBoundedCache<[UInt8], SecretEntry>(budget: secretBudget))
    /// client_id → client, for the calls that name a client by a token rather than a secret
    /// (management, charges); same generation rule as the secrets.
    private let clients = Mutex(ByteBoundedCache<String, ClientEntry>(budget: clientBudget))
    private let tokens = Mutex(ByteBoundedCache<TokenDigest, AccessTokenClaims>(budget: tokenBudget))
    /// Per thread, the verified tokens it used last, as copies whose strings and arrays it owns:
    /// every reader of a shared entry retains the same buffers, and with one hot token those
    /// reference counts' cache lines move between the event loops' cores on every request.
    private let recentTokens = ThreadShards(count: 16) {
        ByteBoundedCache<TokenDigest, AccessTokenClaims>(budget: recentTokenBudget)
    }
    private let keyGenerationCounter = Atomic<UInt64>(0)
    private let generationCounter = Atomic<UInt64>(0)

    /// Read before consulting the store, so an entry built from data older than a change is stale.
    var generation: UInt64 { generationCounter.load(ordering: .acquiring) }

    /// Invalidates every cached secret; call after a client change has committed.
    func clientsChanged() {
        generationCounter.add(1, ordering: .releasing)
        secrets.withLock { $0.removeAll() }
        clients.withLock { $0.removeAll() }
    }

    func client(_ clientID: String) -> Client? {
        let current = generation
        guard let entry = clients.withLock({ $0[clientID] }), entry.generation == current else { return nil }
        return entry.client
    }

    func remember(_ client: Client, generation: UInt64) {
        let cost = 16 + client.clientID.utf8.count + client.approximateByteCount
        clients.withLock {
            $0.insert(ClientEntry(client: client, generation: generation), for: client.clientID, cost: cost)
        }
    }

    func secret(_ hash: [UInt8]) -> SecretEntry? {
        let current = generation
        guard let entry = secrets.withLock({ $0[hash] }), entry.generation == current else { return nil }
        return entry
    }

    func remember(_ hash: [UInt8], _ entry: SecretEntry) {
        let cost = 32 + entry.client.approximateByteCount
        secrets.withLock { $0.insert(entry, for: hash, cost: cost) }
    }

    private let scopeNames = Mutex<(generation: UInt64, names: Set<String>)?>(nil)
    private let scopeGeneration = Atomic<UInt64>(0)

    /// The registered scope names, from `load` when a scope changed since they were last loaded.
    func registeredScopes(load: () throws -> Set<String>) rethrows -> Set<String> {
        let current = scopeGeneration.load(ordering: .acquiring)
        if let cached = scopeNames.withLock({ $0 }), cached.generation == current { return cached.names }
        let names = try load()
        scopeNames.withLock { $0 = (current, names) }
        return names
    }

    /// Invalidates the scope names; call after a scope change has committed.
    func scopesChanged() {
        scopeGeneration.add(1, ordering: .releasing)
    }

    /// The claims a verified token carries, or nil when it was not verified since the last key
    /// change: from this thread's recent tokens, else from the shared cache, copied into them.
    func verified(_ token: TokenDigest) -> AccessTokenClaims? {
        let recent = recentTokens.current
        if let claims = recent.state.withLock({ $0[token] }) { return claims }
        let generation = keyGeneration
        guard let shared = tokens.withLock({ $0[token] }) else { return nil }
        let owned = shared.ownedCopy
        keep(owned, for: token, in: recent, generation: generation)
        return owned
    }

    /// Keeps a token's claims once its signature verified, with keys read after `generation`.
    func remember(_ token: TokenDigest, _ claims: AccessTokenClaims, generation: UInt64) {
        let cost = claims.approximateByteCount
        tokens.withLock {
            if keyGeneration == generation { $0.insert(claims, for: token, cost: cost) }
        }
        keep(claims, for: token, in: recentTokens.current, generation: generation)
    }

    private func keep(
        _ claims: AccessTokenClaims, for token: TokenDigest,
        in shard: ThreadShards<ByteBoundedCache<TokenDigest, AccessTokenClaims>>.Shard, generation: UInt64
    ) {
        let cost = claims.approximateByteCount
        shard.state.withLock {
            if keyGeneration == generation { $0.insert(claims, for: token, cost: cost) }
        }
    }

    /// Read before reading the key ring: claims verified with keys older than a change are not kept.
    var keyGeneration: UInt64 { keyGenerationCounter.load(ordering: .acquiring) }

    /// Forgets verified tokens (after keys change, so a removed key stops verifying at once).
    func keysChanged() {
        keyGenerationCounter.add(1, ordering: .releasing)
        tokens.withLock { $0.removeAll() }
        for shard in recentTokens.all { shard.state.withLock { $0.removeAll() } }
    }
}

/// SHA-256 of a token's text, as four words (cheap to hash and compare).
struct TokenDigest: Hashable, Sendable {
    let words: (UInt64, UInt64, UInt64, UInt64)

    init(_ token: String) {
        var copy = token
        let digest = copy.withUTF8 { SHA256.hash(data: $0) }
        words = digest.withUnsafeBytes { raw in
            (
                raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
                raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
            )
        }
    }

    static func == (lhs: TokenDigest, rhs: TokenDigest) -> Bool {
        lhs.words == rhs.words
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}
