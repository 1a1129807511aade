import SwiftProtobuf

extension Authsec_V1_Client {
    /// Fields the server sets itself: ignored in a created client, refused in an update mask.
    public static let serverSetFields: Set<String> = ["client_id", "created_at", "updated_at", "is_confidential"]

    /// The proto names of the fields a create or an update may give, from the message's own
    /// declaration (`proto/authsec/v1/client.proto`), so a new field needs no list updated.
    public static let changeableFields: Set<String> = Set(
        Google_Protobuf_FieldMask(allFieldsOf: Authsec_V1_Client.self).paths.filter { !serverSetFields.contains($0) })
}
