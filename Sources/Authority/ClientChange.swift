import ClientModel
import SwiftProtobuf

/// A change to a client as an admin wrote it: the fields, and which of them are given.
///
/// On create, a field that is not given takes the app type's default; on update, it keeps its
/// value. `ClientValidator` applies the given fields and checks the result, naming the field it
/// refuses. Server-set fields (`Authsec_V1_Client.serverSetFields`) are never given.
public struct ClientChange: Sendable {
    public var fields: Authsec_V1_Client
    /// Proto names of the given top-level fields.
    public private(set) var given: Set<String>

    /// Every field that has a value is given (a create, or an update without a mask).
    public init(_ fields: Authsec_V1_Client) {
        self.fields = fields
        given = Authsec_V1_Client.changeableFields.filter { fields.hasValue(at: $0) }
    }

    /// Exactly the fields `mask` names are given, so a named field without a value is cleared
    /// (or, for grant types, the auth method and the lifetimes, left as it is).
    /// - Throws: `invalid_request` naming a mask entry that is not a field a change may give.
    public init(_ fields: Authsec_V1_Client, mask: [String]) throws(AuthorityError) {
        for field in mask where !Authsec_V1_Client.changeableFields.contains(field) {
            throw AuthorityError(.invalidRequest, "update_mask: '\(field)' is not a client field that can be changed")
        }
        self.fields = fields
        given = Set(mask)
    }

    /// `base` with the given fields replaced by this change's (none of the rules applied).
    func applied(to base: Authsec_V1_Client) throws -> Authsec_V1_Client {
        // The base's other fields, then the given ones: a merge alone would keep a message field
        // the change names but lacks, and append to lists.
        let all = Authsec_V1_Client.changeableFields.union(Authsec_V1_Client.serverSetFields)
        var merged = Authsec_V1_Client()
        try merged.merge(from: base, fieldMask: Google_Protobuf_FieldMask(protoPaths: all.subtracting(given).sorted()))
        try merged.merge(from: fields, fieldMask: Google_Protobuf_FieldMask(protoPaths: given.sorted()))
        return merged
    }
}

extension Authsec_V1_Client {
    /// Whether the top-level field `path` holds a value: not the default, or present if it tracks presence.
    fileprivate func hasValue(at path: String) -> Bool {
        var probe = Authsec_V1_Client()
        try? probe.merge(from: self, fieldMask: Google_Protobuf_FieldMask(protoPaths: path))
        return probe != Authsec_V1_Client()
    }
}
