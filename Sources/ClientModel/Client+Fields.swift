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
        return Set(visitor.numbers.compactMap { Self.namesByNumber[$0] })
    }

    /// Each field's proto name by its number, looked up once: a field mask made from numbers looks
    /// each one up in the message's name map on every call.
    static let namesByNumber: [Int: String] = Dictionary(
        uniqueKeysWithValues: (1...maxFieldNumber).compactMap { number in
            (try? Google_Protobuf_FieldMask(fieldNumbers: [number], of: Authsec_V1_Client.self))
                .flatMap(\.paths.first).map { (number, $0) }
        })

    /// Above every field number of the message (a test checks that each field has its name).
    static let maxFieldNumber = 1000
}

/// The numbers of the fields a traversal visits: a message visits only those that hold a value.
/// The visitor's other methods (other numeric types, repeated fields) default to these.
private struct VisitedFields: Visitor {
    /// In traversal order; a traversal visits a field at most once.
    var numbers: [Int] = []

    mutating func visitSingularDoubleField(value: Double, fieldNumber: Int) { numbers.append(fieldNumber) }
    mutating func visitSingularInt64Field(value: Int64, fieldNumber: Int) { numbers.append(fieldNumber) }
    mutating func visitSingularUInt64Field(value: UInt64, fieldNumber: Int) { numbers.append(fieldNumber) }
    mutating func visitSingularBoolField(value: Bool, fieldNumber: Int) { numbers.append(fieldNumber) }
    mutating func visitSingularStringField(value: String, fieldNumber: Int) { numbers.append(fieldNumber) }
    mutating func visitSingularBytesField(value: Data, fieldNumber: Int) { numbers.append(fieldNumber) }
    mutating func visitSingularEnumField<E: Enum>(value: E, fieldNumber: Int) { numbers.append(fieldNumber) }
    mutating func visitSingularMessageField<M: Message>(value: M, fieldNumber: Int) { numbers.append(fieldNumber) }
    mutating func visitMapField<K, V: MapValueType>(
        fieldType: _ProtobufMap<K, V>.Type, value: _ProtobufMap<K, V>.BaseType, fieldNumber: Int
    ) { numbers.append(fieldNumber) }
    mutating func visitMapField<K, V>(
        fieldType: _ProtobufEnumMap<K, V>.Type, value: _ProtobufEnumMap<K, V>.BaseType, fieldNumber: Int
    ) where V.RawValue == Int { numbers.append(fieldNumber) }
    mutating func visitMapField<K, V>(
        fieldType: _ProtobufMessageMap<K, V>.Type, value: _ProtobufMessageMap<K, V>.BaseType, fieldNumber: Int
    ) { numbers.append(fieldNumber) }
    mutating func visitUnknown(bytes: Data) {}
}
