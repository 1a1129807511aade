import Foundation
import SwiftProtobuf

extension Authsec_V1_Client {
    /// Fields the server sets itself: ignored in a created client, refused in an update mask.
    public static let serverSetFields: Set<String> = [
        "client_id", "created_at", "updated_at", "is_confidential", "registered_at",
    ]

    /// Every field's proto name, from the message's own declaration (`proto/authsec/v1/client.proto`).
    public static let allFields = Set(Google_Protobuf_FieldMask(allFieldsOf: Authsec_V1_Client.self).paths)

    /// The fields a create or an update may give, so that a new field needs no list updated.
    public static let changeableFields = allFields.subtracting(serverSetFields)

    /// The proto names of the top-level fields that hold a value: not the default or, for a field
    /// that tracks presence, set. One traversal, as the encoders make.
    public var fieldsWithValues: Set<String> {
        var visitor = VisitedFields()
        try? traverse(visitor: &visitor)
        let mask = try? Google_Protobuf_FieldMask(fieldNumbers: visitor.numbers.sorted(), of: Authsec_V1_Client.self)
        return Set(mask?.paths ?? [])
    }
}

/// The numbers of the fields a traversal visits: a message visits only those that hold a value.
/// The visitor's other methods (other numeric types, repeated fields) default to these.
private struct VisitedFields: Visitor {
    var numbers: Set<Int> = []

    mutating func visitSingularDoubleField(value: Double, fieldNumber: Int) { numbers.insert(fieldNumber) }
    mutating func visitSingularInt64Field(value: Int64, fieldNumber: Int) { numbers.insert(fieldNumber) }
    mutating func visitSingularUInt64Field(value: UInt64, fieldNumber: Int) { numbers.insert(fieldNumber) }
    mutating func visitSingularBoolField(value: Bool, fieldNumber: Int) { numbers.insert(fieldNumber) }
    mutating func visitSingularStringField(value: String, fieldNumber: Int) { numbers.insert(fieldNumber) }
    mutating func visitSingularBytesField(value: Data, fieldNumber: Int) { numbers.insert(fieldNumber) }
    mutating func visitSingularEnumField<E: Enum>(value: E, fieldNumber: Int) { numbers.insert(fieldNumber) }
    mutating func visitSingularMessageField<M: Message>(value: M, fieldNumber: Int) { numbers.insert(fieldNumber) }
    mutating func visitMapField<K, V: MapValueType>(
        fieldType: _ProtobufMap<K, V>.Type, value: _ProtobufMap<K, V>.BaseType, fieldNumber: Int
    ) { numbers.insert(fieldNumber) }
    mutating func visitMapField<K, V>(
        fieldType: _ProtobufEnumMap<K, V>.Type, value: _ProtobufEnumMap<K, V>.BaseType, fieldNumber: Int
    ) where V.RawValue == Int { numbers.insert(fieldNumber) }
    mutating func visitMapField<K, V>(
        fieldType: _ProtobufMessageMap<K, V>.Type, value: _ProtobufMessageMap<K, V>.BaseType, fieldNumber: Int
    ) { numbers.insert(fieldNumber) }
    mutating func visitUnknown(bytes: Data) {}
}
