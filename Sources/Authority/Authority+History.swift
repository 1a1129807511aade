import ClientModel
import Store

extension Authority {
    /// The most versions of one client kept; older ones go as new ones come.
    static let maxClientVersions: UInt32 = 100

    /// Keeps `client`'s fields as `version`, in the change's own transaction.
    func putVersion(_ txn: WriteTransaction, _ client: Client, version: UInt32, change: String, by caller: AdminCaller?)
        throws
    {
        guard activity.isAuditOn else { return }
        let entry = Authsec_V1_ClientVersion.with {
            $0.version = version
            $0.time = change == "recorded" ? client.updatedAt * 1000 : clock.nanoseconds() / 1_000_000
            $0.actor = caller?.clientID ?? ""
            $0.change = change
            $0.client = client.fields
        }
        try txn.put(Keyspace.clientHistory, Self.versionKey(client.clientID, version), entry)
        if version > Self.maxClientVersions {
            _ = try txn.delete(
                Keyspace.clientHistory, Self.versionKey(client.clientID, version - Self.maxClientVersions))
        }
    }

    static func versionKey(_ clientID: String, _ version: UInt32) -> String {
        clientID + " " + hex(UInt64(version), digits: 8)
    }

    /// Every kept version of a client, oldest first; a deleted client's versions stay until the
    /// audit retention removes them.
    public func clientHistory(_ clientID: String) throws -> [Authsec_V1_ClientVersion] {
        guard !clientID.isEmpty, clientID.utf8.count <= 255 else {
            throw AuthorityError(.invalidRequest, "client_id is required")
        }
        let prefix = clientID + " "
        let rows = try read {
            try $0.scan(Keyspace.clientHistory, after: prefix, limit: Int(Self.maxClientVersions) + 1)
        }
        let versions = rows.prefix { $0.key.hasPrefix(prefix) }.map(\.value)
        if versions.isEmpty, try read({ try $0.get(Keyspace.clients, clientID) }) == nil {
            throw AuthorityError(.notFound, "client \(clientID) does not exist and has no history")
        }
        return versions
    }

    /// The audit detail of a client change: the fields it gave.
    static func fieldsDetail(_ change: ClientChange) -> String {
        change.given.isEmpty ? "" : "fields: " + change.given.sorted().joined(separator: ", ")
    }
}
