import ClientModel
import Foundation

extension Client {
    init(record: Authsec_Store_V1_StoredClient) {
        self.init(fields: record.client)
    }

    /// `version` is the client's latest version in `client_history` (0: none recorded).
    /// `createdBy` is the client that created it (kept for its first history version).
    func record(secretHashes: [[UInt8]], version: UInt32 = 0, createdBy: String = "")
        -> Authsec_Store_V1_StoredClient
    {
        var record = Authsec_Store_V1_StoredClient()
        record.client = fields
        record.secretHashes = secretHashes.map { Data($0) }
        record.version = version
        record.createdBy = createdBy
        return record
    }
}
