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
        let records = try await write { txn -> [Authsec_Store_V1_SigningKeyRecord] in
            let existing = try txn.reader.scan(Keyspace.signingKeys, limit: .max).map(\.value)
            let fresh = try KeyRing.makeRecord(now: now, activatesAt: now + activateIn, sealingKey: sealingKey)
            var kept: [Authsec_Store_V1_SigningKeyRecord] = []
            for var record in existing {
                if record.expiresAt != 0, record.expiresAt <= now {
                    try txn.delete(Keyspace.signingKeys, record.kid)
                    continue
                }
                // Every key still signing or waiting to sign retires when the new one activates.
                if record.retiredAt == 0 || record.retiredAt > fresh.activatesAt {
                    record.retiredAt = max(fresh.activatesAt, record.activatesAt)
                    record.expiresAt = record.retiredAt + Client.maxAccessTokenLifetime
                    try txn.put(Keyspace.signingKeys, record.kid, record)
                }
                kept.append(record)
            }
            try txn.put(Keyspace.signingKeys, fresh.kid, fresh)
            try self.putAudit(
                txn, .keyRotate, by: caller, detail: "new key \(fresh.kid) signs from \(fresh.activatesAt)")
            return kept + [fresh]
        }
        let ring = try KeyRing(records: records, sealingKey: sealingKey)
        keyRing.withLock { $0 = ring }
        caches.keysChanged()
        return ring.info(at: now)
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
        return #"{"keys":["# + keys.joined(separator: ",") + "]}"
    }
}
