import Foundation
import JWTKit
import Store

extension Authority {
    /// Every signing key with its schedule.
    public func listKeys() -> [SigningKeyInfo] {
        keyRing.withLock { $0.info(at: clock.now()) }
    }

    /// Adds a new signing key. It is published in the JWKS at once and signs from `activateIn`
    /// seconds on; the current key then stops signing but stays published until every token it
    /// signed has expired. Keys past that point are deleted.
    public func rotateKey(activateIn: Int64, by caller: AdminCaller = .inProcess) async throws -> [SigningKeyInfo] {
        try await audited(.keyRotate, by: caller) { try await rotateKeyOnce(activateIn: activateIn, by: caller) }
    }

    private func rotateKeyOnce(activateIn: Int64, by caller: AdminCaller) async throws -> [SigningKeyInfo] {
        guard activateIn >= 0, activateIn <= 30 * 86_400 else {
            throw AuthorityError(.invalidRequest, "activate_in must be between 0 and 30 days")
        }
        let now = clock.now()
        let sealingKey = self.sealingKey
        // Each algorithm in use gets its new key; RS256 only once a client has asked for it.
        let usesRSA = keyRing.withLock { !$0.publishedRSA(at: now).isEmpty }
        let fresh =
            try [KeyRing.makeRecord(now: now, activatesAt: now + activateIn, sealingKey: sealingKey)]
            + (usesRSA
                ? [
                    KeyRing.makeRecord(
                        now: now, activatesAt: now + activateIn, sealingKey: sealingKey, algorithm: KeyRing.rs256)
                ] : [])
        let records = try await write { txn -> [Authsec_Store_V1_SigningKeyRecord] in
            let existing = try txn.reader.scan(Keyspace.signingKeys, limit: .max).map(\.value)
            var kept: [Authsec_Store_V1_SigningKeyRecord] = []
            for var record in existing {
                if record.expiresAt != 0, record.expiresAt <= now {
                    try txn.delete(Keyspace.signingKeys, record.kid)
                    continue
                }
                // Every key still signing or waiting to sign retires when its algorithm's new one activates.
                let isRSA = record.algorithm == KeyRing.rs256
                if let successor = fresh.first(where: { ($0.algorithm == KeyRing.rs256) == isRSA }),
                    record.retiredAt == 0 || record.retiredAt > successor.activatesAt
                {
                    record.retiredAt = max(successor.activatesAt, record.activatesAt)
                    record.expiresAt = record.retiredAt + max(Client.maxAccessTokenLifetime, Self.maxIDTokenLifetime)
                    try txn.put(Keyspace.signingKeys, record.kid, record)
                }
                kept.append(record)
            }
            for record in fresh { try txn.put(Keyspace.signingKeys, record.kid, record) }
            try self.putAudit(
                txn, .keyRotate, by: caller,
                detail: "new keys \(fresh.map(\.kid).joined(separator: ", ")) sign from \(now + activateIn)")
            return kept + fresh
        }
        let ring = try KeyRing(records: records, sealingKey: sealingKey)
        keyRing.withLock { $0 = ring }
        caches.keysChanged()
        return ring.info(at: now)
    }

    /// The longest an ID token may live (`id_token_lifetime`); a retired key stays published this long too.
    static let maxIDTokenLifetime: Int64 = 86_400

    /// The RS256 key that signs ID tokens now, made (and published) at the first request for one.
    func rsaSigner() async throws -> KeyRing.RSAEntry {
        let now = clock.now()
        if let signer = keyRing.withLock({ $0.rsaSigner(at: now) }) { return signer }
        let fresh = try KeyRing.makeRecord(
            now: now, activatesAt: now, sealingKey: sealingKey, algorithm: KeyRing.rs256)
        try await write { txn in
            // Another request may have made one meanwhile: keep the first.
            let existing = try txn.reader.scan(Keyspace.signingKeys, limit: .max).map(\.value)
            guard !existing.contains(where: { $0.algorithm == KeyRing.rs256 && $0.retiredAt == 0 }) else { return }
            try txn.put(Keyspace.signingKeys, fresh.kid, fresh)
        }
        try reloadKeys()
        guard let signer = keyRing.withLock({ $0.rsaSigner(at: now) }) else {
            throw AuthorityError(.serverError, "no RS256 key is active", detail: "RS256 key was not made")
        }
        return signer
    }

    /// Reloads keys from the store (after another instance rotated them, or in tests).
    public func reloadKeys() throws {
        let records = try read { try $0.scan(Keyspace.signingKeys, limit: .max).map(\.value) }
        let ring = try KeyRing(records: records, sealingKey: sealingKey)
        keyRing.withLock { $0 = ring }
        caches.keysChanged()
    }

    /// The public JWK Set (RFC 7517 §5) of every key whose tokens may still be alive. Never holds `d`.
    public func jwksJSON() -> String {
        let now = clock.now()
        let entries = keyRing.withLock { $0.published(at: now) }
        let keys = entries.map { entry -> String in
            let raw = entry.publicKey.rawRepresentation  // x || y, 32 bytes each
            let x = Base64URL.encode(raw.prefix(32))
            let y = Base64URL.encode(raw.suffix(32))
            return
                #"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)","kid":"\#(entry.kid)","use":"sig","alg":"ES256"}"#
        }
        let rsaKeys = keyRing.withLock { $0.publishedRSA(at: now) }.compactMap { entry -> String? in
            guard let primitives = try? entry.publicKey.getKeyPrimitives() else { return nil }
            let n = Base64URL.encode(primitives.modulus)
            let e = Base64URL.encode(primitives.publicExponent)
            return #"{"kty":"RSA","n":"\#(n)","e":"\#(e)","kid":"\#(entry.kid)","use":"sig","alg":"RS256"}"#
        }
        return #"{"keys":["# + (keys + rsaKeys).joined(separator: ",") + "]}"
    }
}
