import Store

/// A user's consent to a client, as an admin sees it.
public struct Consent: Sendable, Equatable {
    public let clientID: String
    /// Empty when the client no longer exists.
    public let clientName: String
    public let scopes: [String]
    public let grantedAt: Int64
    public let updatedAt: Int64
}

extension Authority {
    /// The clients `user` (a username or sub) has consented to, in client_id order.
    public func consents(of user: String) throws -> [Consent] {
        try read { txn in
            let sub = try Self.userRecord(user, in: txn).sub
            let prefix = sub + " "
            // Consent keys are "sub client_id": one user's sort together, right after `sub`.
            var consents: [Consent] = []
            var after = sub
            while true {
                let rows = try txn.scan(Keyspace.consents, after: after, limit: 256)
                for (key, record) in rows {
                    guard key.hasPrefix(prefix) else { return consents }
                    let clientID = String(key.dropFirst(prefix.count))
                    consents.append(
                        Consent(
                            clientID: clientID, clientName: try txn.get(Keyspace.clients, clientID)?.client.name ?? "",
                            scopes: record.scopes, grantedAt: record.grantedAt, updatedAt: record.updatedAt))
                }
                guard rows.count == 256, let last = rows.last?.key else { return consents }
                after = last
            }
        }
    }

    /// Forgets `user`'s consent to `clientID` and revokes the grants made under it: its refresh
    /// tokens stop, and introspection refuses its access tokens. The next authorization asks again.
    /// - Throws: `not_found` for an unknown user or no such consent.
    public func revokeConsent(of user: String, for clientID: String, by caller: AdminCaller) async throws {
        try await audited(.consentRevoke, by: caller, clientID: clientID, user: user) {
            let now = clock.now()
            try await write { txn in
                let sub = try Self.userRecord(user, in: txn.reader).sub
                let key = sub + " " + clientID
                guard clientID.utf8.count <= 255, let consent = try txn.get(Keyspace.consents, key) else {
                    throw AuthorityError(.notFound, "user \(user) has not consented to client \(clientID)")
                }
                for grantID in consent.grantIds { try self.revokeGrant(grantID, in: txn, now: now) }
                _ = try txn.delete(Keyspace.consents, key)
                try self.putAudit(
                    txn, .consentRevoke, by: caller, clientID: clientID, user: sub,
                    detail: "\(consent.grantIds.count) grants revoked")
            }
        }
    }
}
