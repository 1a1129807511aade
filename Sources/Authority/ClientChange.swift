import ClientModel
import SwiftProtobuf

/// A change to a client as an admin wrote it: the fields, and which of them are given.
///
/// On create, a field that is not given takes the app type's default; on update, it keeps its
/// value. `ClientValidator` applies the given fields and checks the result, naming the field it
/// refuses. Server-set fields (`Authsec_V1_Client.serverSetFields`) are never given.
public struct ClientChange: Sendable {
    public var fields: Authsec_V1_Client
    /// Proto names of the given fields: top-level ones, and nested paths
    /// (`agent_config.rate_limits.requests_per_minute`) that change part of a message field.
    public private(set) var given: Set<String>

    /// Whether the given fields are exactly the top-level fields of `fields` that hold a value
    /// (no mask, no server-set field): a create can then fill in defaults instead of merging.
    private(set) var givesWhatHasValues = false

    /// Every field that has a value is given (a create, or an update without a mask).
    public init(_ fields: Authsec_V1_Client) {
        self.fields = fields
        let withValues = fields.fieldsWithValues
        given = withValues.intersection(Authsec_V1_Client.changeableFields)
        // A server-set field with a value is not given: the slow path leaves it out.
        givesWhatHasValues = given.count == withValues.count
    }

    /// Exactly the fields `mask` names are given, so a named field without a value is cleared
    /// (or, for grant types, the auth method and the lifetimes, left as it is). A path into a
    /// message field (`agent_config.rate_limits`) changes only that part of it.
    /// - Throws: `invalid_request` naming a mask entry that is not a field a change may give.
    public init(_ fields: Authsec_V1_Client, mask: [String]) throws(AuthorityError) {
        for field in mask {
            let top = field.split(separator: ".", maxSplits: 1).first.map(String.init) ?? field
            guard Authsec_V1_Client.changeableFields.contains(top), field.utf8.count <= 256,
                Google_Protobuf_FieldMask(protoPaths: [field]).isValid(for: Authsec_V1_Client.self)
            else {
                throw AuthorityError(
                    .invalidRequest, "update_mask: '\(field)' is not a client field that can be changed")
            }
        }
        self.fields = fields
        given = Set(mask)
    }

    /// `base` with the given fields replaced by this change's (none of the rules applied).
    func applied(to base: Authsec_V1_Client) throws -> Authsec_V1_Client {
        var merged = base
        var replacing = Google_Protobuf_FieldMask.MergeOptions()
        replacing.replaceRepeatedFields = true
        try merged.merge(
            from: fields, fieldMask: Google_Protobuf_FieldMask(protoPaths: given.sorted()), mergeOption: replacing)
        // A merge keeps a message field the change names but lacks: clear it.
        let unset = given.filter { !$0.contains(".") }.subtracting(fields.fieldsWithValues)
        if !unset.isEmpty {
            let kept = Authsec_V1_Client.allFields.subtracting(unset)
            merged.trim(keeping: Google_Protobuf_FieldMask(protoPaths: kept.sorted()))
        }
        return merged
    }
}
