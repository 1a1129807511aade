import ClientModel
import Foundation
import SwiftProtobuf

/// The management API's JSON form of a client (the seed page's body), both ways. The fields come
/// from the `Client` message's declaration through SwiftProtobuf's JSON codec; this file adds only
/// the seed's spellings, the name of the field a type error is in, and the output's shape.
///
/// Reading, in order:
/// 1. The seed's grouping objects (`token_config`, `security_config`, `advanced_security`) are
///    flattened into the top level.
/// 2. Keys become proto names: the `aliases` below at the top level, and camelCase to snake_case in
///    every message object. Two keys that name one field are an error naming both.
/// 3. The seed's value forms: `allowed_scopes` as a space-separated string, `context_retention`
///    as seconds, `jwks` as an object (kept as its text), `security` without `require_auth` (true).
/// 4. Keys the message does not declare are taken out and returned, so that callers can warn;
///    nulls are dropped.
/// 5. SwiftProtobuf decodes the rest (proto or lowerCamelCase names, int64 as number or string).
///    If it refuses, each key is decoded alone to find the one at fault, nested ones included,
///    and the error names it with the type it needs.
///
/// Writing is SwiftProtobuf's JSON with proto names and int64s as numbers, plus every top-level
/// field that is empty (proto3 JSON leaves those out) and `jwks` as the object its text holds.
public enum ClientJSON {
    public struct FieldError: Error, CustomStringConvertible {
        public let field: String
        public let problem: String
        public var description: String { "\(field): \(problem)" }
    }

    /// The client, the paths of the fields it gave (for an update mask, nested ones included;
    /// server-set ones are left out), and the keys it did not know, as the file spelled them.
    public struct Parsed {
        public var client: Authsec_V1_Client
        public var fields: [String]
        public var unknownKeys: [String]
    }

    /// Other names of a top-level field, by proto name: RFC 7591's registration names and the
    /// seed page's. Their camelCase spellings work too, as do every field's.
    public static let aliases: [String: [String]] = [
        "app_type": ["type", "application_type"],
        "name": ["client_name"],
        "logo": ["logo_uri"],
        "website": ["client_uri"],
        "callbacks": ["redirect_uris"],
        "allowed_scopes": ["scope", "scopes"],
        "allowed_audiences": ["audiences"],
        "require_proof_key_for_code_exchange": ["require_pkce"],
        "require_pushed_authorization_requests": ["require_par"],
        "agent_config": ["ai_agent_config", "ai_config"],
        "mcp_config": ["mcp_server_config"],
    ]

    /// The seed page's objects that group top-level fields.
    static let groups: Set<String> = ["token_config", "security_config", "advanced_security"]

    static let canonicalName: [String: String] = Dictionary(
        uniqueKeysWithValues: aliases.flatMap { name, others in others.map { ($0, name) } })

    public static func parse(_ data: Data) throws -> Parsed {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw FieldError(field: "(document)", problem: "is not valid JSON")
        }
        guard var root = object as? [String: Any] else {
            throw FieldError(field: "(document)", problem: "must be a JSON object")
        }
        for key in root.keys.sorted() where groups.contains(snakeCase(key)) {
            guard let fields = root.removeValue(forKey: key) as? [String: Any] else {
                throw FieldError(field: key, problem: "must be an object")
            }
            for name in fields.keys.sorted() {
                guard root[name] == nil else {
                    throw FieldError(field: name, problem: "is given both at the top level and in \(key); give one")
                }
                root[name] = fields[name]
            }
        }
        try gatherGroupedFields(&root)
        var unknownKeys: [String] = []
        var normalized = try normalize(root, at: [], unknownKeys: &unknownKeys)
        seedValueForms(&normalized)
        let client: Authsec_V1_Client
        do {
            client = try decode(normalized)
        } catch {
            throw fault(in: normalized, at: [])
                ?? FieldError(field: "(document)", problem: "cannot be read as a client: \(error)")
        }
        let fields = givenPaths(normalized.filter { !Authsec_V1_Client.serverSetFields.contains($0.key) }, at: [])
        return Parsed(client: client, fields: fields, unknownKeys: unknownKeys)
    }

    /// The update-mask paths of what `object` gives: an object for a message field names the
    /// fields it gives (`agent_config.rate_limits.requests_per_minute`), so an update changes just
    /// those and keeps the agent's other settings; a list, a map or an empty object is one path
    /// (an empty object clears the message).
    static func givenPaths(_ object: [String: Any], at path: [String]) -> [String] {
        object.keys.sorted().flatMap { name -> [String] in
            if let nested = object[name] as? [String: Any], !nested.isEmpty, Kind(path + [name]) == .message {
                return givenPaths(nested, at: path + [name])
            }
            return [(path + [name]).joined(separator: ".")]
        }
    }

    /// The agent's fields (`agent_type`, `capabilities`, `rate_limits`, …: those of `AgentConfig`)
    /// and an MCP server's (`protocol_version`, `endpoints`, `security`, `resource`, …: those of
    /// `McpConfig`) given at the top level of a file, as the product page shows them, moved into
    /// their object (`agent_config`/`mcp_config` or an alias of it, made if absent). A field given
    /// in both places is an error naming both.
    static func gatherGroupedFields(_ root: inout [String: Any]) throws {
        try gather(
            Set(Google_Protobuf_FieldMask(allFieldsOf: Authsec_V1_AgentConfig.self).paths), into: "agent_config", &root)
        try gather(
            Set(Google_Protobuf_FieldMask(allFieldsOf: Authsec_V1_McpConfig.self).paths), into: "mcp_config", &root)
    }

    static func gather(_ nestedFields: Set<String>, into field: String, _ root: inout [String: Any]) throws {
        let topLevel = root.keys.sorted().filter { nestedFields.contains(snakeCase($0)) }
        guard !topLevel.isEmpty else { return }
        let objectKey =
            root.keys.sorted().first { (canonicalName[snakeCase($0)] ?? snakeCase($0)) == field } ?? field
        guard var object = (root[objectKey] ?? [String: Any]()) as? [String: Any] else {
            throw FieldError(field: objectKey, problem: "must be an object")
        }
        for key in topLevel {
            if let inside = object.keys.first(where: { snakeCase($0) == snakeCase(key) }) {
                throw FieldError(
                    field: key, problem: "is given both at the top level and as \(objectKey).\(inside); give one")
            }
            object[key] = root.removeValue(forKey: key)
        }
        root[objectKey] = object
    }

    /// The seed page's forms of some values, as the message's JSON spells them (step 3 above).
    static func seedValueForms(_ client: inout [String: Any]) {
        if let text = client["allowed_scopes"] as? String {
            client["allowed_scopes"] = text.split(separator: " ").map(String.init)
        }
        if let jwks = client["jwks"], !(jwks is String), JSONSerialization.isValidJSONObject(jwks),
            let text = try? JSONSerialization.data(withJSONObject: jwks, options: [.sortedKeys])
        {
            client["jwks"] = String(decoding: text, as: UTF8.self)
        }
        if var agent = client["agent_config"] as? [String: Any],
            let seconds = agent["context_retention"] as? NSNumber, !isJSONBool(seconds),
            let whole = Int64(exactly: seconds.doubleValue)
        {
            agent["context_retention"] = "\(whole)s"
            client["agent_config"] = agent
        }
        if var mcp = client["mcp_config"] as? [String: Any], var security = mcp["security"] as? [String: Any],
            security["require_auth"] == nil
        {
            security["require_auth"] = true
            mcp["security"] = security
            client["mcp_config"] = mcp
        }
    }

    /// `object`, a message at `path`, with its keys renamed to proto names (recursively into
    /// message objects, not into maps), nulls dropped and unknown keys moved to `unknownKeys`.
    static func normalize(_ object: [String: Any], at path: [String], unknownKeys: inout [String]) throws
        -> [String: Any]
    {
        let prefix = path.map { $0 + "." }.joined()
        var result: [String: Any] = [:]
        var spelledAs: [String: String] = [:]
        for key in object.keys.sorted() {
            var name = snakeCase(key)
            if path.isEmpty { name = canonicalName[name] ?? name }
            if let earlier = spelledAs[name] {
                throw FieldError(
                    field: prefix + earlier, problem: "and '\(prefix + key)' are two spellings of one field; give one")
            }
            spelledAs[name] = key
            guard decodes([name: NSNull()], at: path) else {
                unknownKeys.append(prefix + key)
                continue
            }
            guard let value = object[key], !(value is NSNull) else { continue }
            if let nested = value as? [String: Any], Kind(path + [name]) == .message {
                result[name] = try normalize(nested, at: path + [name], unknownKeys: &unknownKeys)
            } else {
                result[name] = value
            }
        }
        return result
    }

    /// The first key of `object` (at `path`) that does not decode alone, the deepest one if it is
    /// an object, named with the type it needs.
    static func fault(in object: [String: Any], at path: [String]) -> FieldError? {
        for key in object.keys.sorted() where !decodes([key: object[key] as Any], at: path) {
            let kind = Kind(path + [key])
            if let nested = object[key] as? [String: Any], kind == .message || kind == .stringMap,
                let inner = fault(in: nested, at: path + [key])
            {
                return inner
            }
            return FieldError(field: (path + [key]).joined(separator: "."), problem: kind?.need ?? "cannot be read")
        }
        return nil
    }

    /// The JSON types a field takes, found by decoding an empty value of each at its path.
    enum Kind: Equatable {
        case string, integer, boolean, strings, list, stringMap, message

        init?(_ path: [String]) {
            let probes: [(Any, Kind)] = [
                (["": ""], .stringMap), ([String: Any](), .message), ([""], .strings), ([Any](), .list),
                ("", .string), (false, .boolean), (0, .integer),
            ]
            guard let kind = probes.first(where: { decodes($0.0, at: path) })?.1 else { return nil }
            self = kind
        }

        var need: String {
            switch self {
            case .string: "must be a string"
            case .integer: "must be a whole number"
            case .boolean: "must be true or false"
            case .strings: "must be an array of strings"
            case .list: "must be an array"
            case .stringMap: "must be an object of strings"
            case .message: "must be an object"
            }
        }

        /// What an empty field of this kind prints as; nil for objects, left out when unset.
        var empty: Any? {
            switch self {
            case .string: ""
            case .integer: 0
            case .boolean: false
            case .strings, .list: [Any]()
            case .stringMap, .message: nil
            }
        }
    }

    /// Whether `value` decodes as a client when placed at `path` (the last component is a key of
    /// `value` when `value` is the object holding it).
    static func decodes(_ value: Any, at path: [String]) -> Bool {
        let wrapped = path.reversed().reduce(value) { inner, key in [key: inner] as [String: Any] }
        guard let object = wrapped as? [String: Any] else { return false }
        return (try? decode(object)) != nil
    }

    static func decode(_ object: [String: Any]) throws -> Authsec_V1_Client {
        guard JSONSerialization.isValidJSONObject(object) else {
            throw FieldError(field: "(document)", problem: "is not valid JSON")
        }
        return try Authsec_V1_Client(jsonUTF8Data: JSONSerialization.data(withJSONObject: object))
    }

    static func snakeCase(_ key: String) -> String {
        var out = ""
        for character in key {
            if character.isUppercase {
                out += "_" + character.lowercased()
            } else {
                out.append(character)
            }
        }
        return out
    }

    /// Every top-level field's kind, for printing the empty ones.
    static let topLevelKinds: [(String, Kind)] = Authsec_V1_Client.allFields.sorted().compactMap { name in
        Kind([name]).map { (name, $0) }
    }

    /// The JSON object for a client (numbers as numbers, every top-level field present).
    public static func object(_ client: Authsec_V1_Client) -> [String: Any] {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        options.alwaysPrintInt64sAsNumbers = true
        guard let data = try? client.jsonUTF8Data(options: options),
            var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { return [:] }
        for (name, kind) in topLevelKinds where object[name] == nil { object[name] = kind.empty }
        // Stored as JSON text; shown as the JWK Set it holds, or not at all.
        object["jwks"] = (object["jwks"] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) }
        return object
    }

    /// Pretty, key-sorted JSON text for an object built of JSON types.
    public static func text(_ object: Any) -> String {
        let data =
            (try? JSONSerialization.data(
                withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// JSON booleans decode as NSNumber too, and `0 is Bool` holds; only their boxed type ("c") tells.
private func isJSONBool(_ number: NSNumber) -> Bool {
    String(cString: number.objCType) == "c"
}
