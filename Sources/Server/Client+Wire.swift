import Authority
import ClientModel

extension Authsec_V1_Client {
    /// The wire form of a registered client: its fields, with the derived `is_confidential`.
    init(_ client: Client) {
        self = client.answered
    }
}
