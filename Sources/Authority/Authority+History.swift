import ClientModel
import Store

extension Authority {
    /// The most versions of one client kept; older ones go as new ones come.
    static let maxClientVersions: UInt32 = 100

    /// Keeps `client`'s fields as `version`, in the change's own transaction; `time` (Unix
    /// milliseconds) defaults to now.
    func putVersion(
        _ txn: WriteTransaction, _ client: Client, version: UInt32, change: String, actor: String, time: Int64? = nil
    ) throws {
        guard activity.isAuditOn else { return }
        let entry = Authsec_V1_ClientVersion.with {
            $0.version = version
            $0.time = time ?? clock.nanoseconds() / 1_000_000
            $0.actor = actor
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
    /// audit retention removes them. A client never updated has one version, its record as created.
    public func clientHistory(_ clientID: String) throws -> [Authsec_V1_ClientVersion] {
        guard !clientID.isEmpty, clientID.utf8.count <= 255 else {
            throw AuthorityError(.invalidRequest, "client_id is required")
        }
        let prefix = clientID + " "
        let (rows, record) = try read { txn in
            (
                try txn.scan(Keyspace.clientHistory, after: prefix, limit: Int(Self.maxClientVersions) + 1),
                try txn.get(Keyspace.clients, clientID)
            )
        }
        let versions = rows.prefix { $0.key.hasPrefix(prefix) }.map(\.value)
        if let record, record.version == 0 {
            // Not updated since it was created (or since history was kept): the record is version 1.
            let created = !record.createdBy.isEmpty
            return [
                .with {
                    $0.version = 1
                    $0.time = (created ? record.client.createdAt : record.client.updatedAt) * 1000
                    $0.actor = record.createdBy
                    $0.change = created ? "create" : "recorded"
                    $0.client = record.client
                }
            ]
        }
        if versions.isEmpty, record == nil {
            throw AuthorityError(.notFound, "client \(clientID) does not exist and has no history")
        }
        return versions
    }

    /// The audit detail of a client change: the fields it gave.
    static func fieldsDetail(_ change: ClientChange) -> String {
        change.given.isEmpty ? "" : "fields: " + change.given.sorted().joined(separator: ", ")
    }
}
