import ClientModel
import Store

extension Authority {
    /// The most versions of one client kept; older ones go as new ones come.
    static let maxClientVersions: UInt32 = 100

    /// Keeps `entry` in the change's own transaction, dropping the version it makes one too many.
    func putVersion(_ txn: WriteTransaction, _ entry: Authsec_V1_ClientVersion) throws {
        guard activity.isAuditOn else { return }
        let clientID = entry.client.clientID
        try txn.put(Keyspace.clientHistory, Self.versionKey(clientID, entry.version), entry)
        if entry.version > Self.maxClientVersions {
            _ = try txn.delete(
                Keyspace.clientHistory, Self.versionKey(clientID, entry.version - Self.maxClientVersions))
        }
    }

    /// The version a client's record stands for until its first update: as created, by
    /// `created_by`; or, for a client made before history was kept, as found ("recorded").
    static func firstVersion(of record: Authsec_Store_V1_StoredClient) -> Authsec_V1_ClientVersion {
        let created = !record.createdBy.isEmpty
        return .with {
            $0.version = 1
            $0.time = (created ? record.client.createdAt : record.client.updatedAt) * 1000
            $0.actor = record.createdBy
            $0.change = created ? "create" : "recorded"
            $0.client = record.client
        }
    }

    static func versionKey(_ clientID: String, _ version: UInt32) -> String {
        clientID + " " + hex(UInt64(version), digits: 8)
    }

    /// Every kept version of a client, oldest first; a deleted client's versions stay until the
    /// audit retention removes them. A client never updated has one version, its record as created.
    public func clientHistory(_ clientID: String) throws -> [Authsec_V1_ClientVersion] {
        guard !clientID.isEmpty else { throw AuthorityError(.invalidRequest, "client_id is required") }
        guard clientID.utf8.count <= 255 else { throw AuthorityError(.invalidRequest, "client_id is too long") }
        let prefix = clientID + " "
        let (rows, record) = try read { txn in
            (
                try txn.scan(Keyspace.clientHistory, after: prefix, limit: Int(Self.maxClientVersions) + 1),
                try txn.get(Keyspace.clients, clientID)
            )
        }
        let versions = rows.prefix { $0.key.hasPrefix(prefix) }.map(\.value)
        // Not updated since it was created (or since history was kept): the record is version 1.
        if let record, record.version == 0 { return [Self.firstVersion(of: record)] }
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
