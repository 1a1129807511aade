import ClientModel
import Foundation

extension Client {
    init(record: Authsec_Store_V1_StoredClient) {
        self.init(fields: record.client)
    }

    func record(secretHashes: [[UInt8]]) -> Authsec_Store_V1_StoredClient {
        var record = Authsec_Store_V1_StoredClient()
        record.client = fields
        record.secretHashes = secretHashes.map { Data($0) }
        return record
    }
}
