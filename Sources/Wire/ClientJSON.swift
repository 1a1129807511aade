import Foundation

/// The management API's JSON form of a client (the seed page's body), both ways.
///
/// Reading accepts the seed's spellings: `type` for `app_type`, the token settings at the top
/// level or inside `token_config`, the agent object as `agent_config` / `ai_agent_config` /
/// `aiAgentConfig`, the MCP object as `mcp_config` / `mcpConfig`, and camelCase keys.
/// Type errors name the field. Keys it does not know are returned so callers can warn.
public enum ClientJSON {
    public struct FieldError: Error, CustomStringConvertible {
        public let field: String
        public let problem: String
        public var description: String { "\(field): \(problem)" }
    }

    /// The client and the set of top-level field names it gave (for an update mask).
    public struct Parsed {
        public var client: Authsec_V1_Client
        public var fields: [String]
        public var unknownKeys: [String]
    }

    static let agentKeys = ["agent_config", "ai_agent_config", "aiAgentConfig", "agentConfig", "ai_config"]
    static let mcpKeys = ["mcp_config", "mcpConfig", "mcp_server_config", "mcpServerConfig"]
    static let groupKeys = [
        "token_config", "tokenConfig", "security_config", "securityConfig", "advanced_security", "advancedSecurity",
    ]

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
        // Flatten the seed's grouping objects into the top level.
        for key in groupKeys {
            guard let group = root.removeValue(forKey: key) else { continue }
            guard let fields = group as? [String: Any] else {
                throw FieldError(field: key, problem: "must be an object")
            }
            for name in fields.keys.sorted() {
                guard root[name] == nil else {
                    throw FieldError(field: name, problem: "is given both at the top level and in \(key); give one")
                }
                root[name] = fields[name]
            }
        }
        var reader = Reader(object: try normalized(root), path: "")
        // Unknown keys are reported as the file spelled them, not as normalized.
        let spelled = Dictionary(root.keys.map { (normalizedName($0), $0) }, uniquingKeysWith: { first, _ in first })
        var client = Authsec_V1_Client()
        var fields: [String] = []
        func take(_ name: String, _ body: () throws -> Void) rethrows {
            if reader.has(name) {
                try body()
                fields.append(name)
            }
        }
        try take("client_id") { client.clientID = try reader.string("client_id") }
        try take("name") { client.name = try reader.string("name") }
        try take("description") { client.description_p = try reader.string("description") }
        try take("app_type") { client.appType = try reader.string("app_type") }
        try take("logo") { client.logo = try reader.string("logo") }
        try take("website") { client.website = try reader.string("website") }
        try take("grant_types") { client.grantTypes = try reader.strings("grant_types") }
        try take("token_endpoint_auth_method") {
            client.tokenEndpointAuthMethod = try reader.string("token_endpoint_auth_method")
        }
        try take("callbacks") { client.callbacks = try reader.strings("callbacks") }
        try take("web_origins") { client.webOrigins = try reader.strings("web_origins") }
        try take("logout_urls") { client.logoutUrls = try reader.strings("logout_urls") }
        try take("allowed_scopes") { client.allowedScopes = try reader.strings("allowed_scopes") }
        try take("allowed_audiences") { client.allowedAudiences = try reader.strings("allowed_audiences") }
        try take("resources") { client.resources = try reader.strings("resources") }
        try take("disabled") { client.disabled = try reader.bool("disabled") }
        try take("access_token_lifetime") { client.accessTokenLifetime = try reader.integer("access_token_lifetime") }
        try take("refresh_token_lifetime") {
            client.refreshTokenLifetime = try reader.integer("refresh_token_lifetime")
        }
        try take("id_token_lifetime") { client.idTokenLifetime = try reader.integer("id_token_lifetime") }
        try take("rotate_refresh_token") { client.rotateRefreshToken = try reader.bool("rotate_refresh_token") }
        try take("require_proof_key_for_code_exchange") {
            client.requireProofKeyForCodeExchange = try reader.bool("require_proof_key_for_code_exchange")
        }
        try take("jwks") { client.jwks = try reader.jsonText("jwks") }
        try take("jwks_uri") { client.jwksUri = try reader.string("jwks_uri") }
        try take("require_pushed_authorization_requests") {
            client.requirePushedAuthorizationRequests = try reader.bool("require_pushed_authorization_requests")
        }
        try take("agent_config") {
            var agent = try reader.object("agent_config")
            client.agentConfig.agentType = try agent.string("agent_type")
            client.agentConfig.capabilities = try agent.strings("capabilities")
            client.agentConfig.contextRetention = try agent.durationText("context_retention")
            client.agentConfig.maxContextSize = try agent.integer("max_context_size")
            if agent.has("rate_limits") {
                var limits = try agent.object("rate_limits")
                client.agentConfig.rateLimits.requestsPerMinute = try limits.integer("requests_per_minute")
                client.agentConfig.rateLimits.tokensPerDay = try limits.integer("tokens_per_day")
            }
        }
        try take("mcp_config") {
            var mcp = try reader.object("mcp_config")
            client.mcpConfig.protocolVersion = try mcp.string("protocol_version")
            client.mcpConfig.supportedFeatures = try mcp.strings("supported_features")
            client.mcpConfig.endpoints = try mcp.stringMap("endpoints")
            var security =
                try mcp.has("security") ? mcp.object("security") : Reader(object: [:], path: "mcp_config.security.")
            client.mcpConfig.security.requireAuth =
                security.has("require_auth") ? try security.bool("require_auth") : true
            client.mcpConfig.security.allowedOrigins = try security.strings("allowed_origins")
        }
        return Parsed(client: client, fields: fields, unknownKeys: reader.unusedKeys.map { spelled[$0] ?? $0 })
    }

    /// Maps aliases and camelCase onto the canonical snake_case names.
    static func normalized(_ root: [String: Any]) throws -> [String: Any] {
        var result = try renamed(root, path: "", normalizedName)
        if let text = result["allowed_scopes"] as? String {
            result["allowed_scopes"] = text.split(separator: " ").map(String.init)
        }
        return result
    }

    /// `object` with each key renamed; two keys that name one field (`agentType` and
    /// `agent_type`) are an error naming both, never a silent choice of one.
    static func renamed(_ object: [String: Any], path: String, _ rename: (String) -> String) throws -> [String: Any] {
        var result: [String: Any] = [:]
        var spelledAs: [String: String] = [:]
        for key in object.keys.sorted() {
            let name = rename(key)
            if let earlier = spelledAs[name] {
                throw FieldError(
                    field: path + earlier, problem: "and '\(path + key)' are two spellings of one field; give one")
            }
            spelledAs[name] = key
            result[name] = object[key]
        }
        return result
    }

    /// The canonical snake_case name for a key, its aliases and camelCase spellings included.
    static func normalizedName(_ key: String) -> String {
        var name = snakeCase(key)
        if name == "type" || name == "application_type" { name = "app_type" }
        if name == "logo_uri" { name = "logo" }
        if name == "client_uri" { name = "website" }
        if name == "redirect_uris" { name = "callbacks" }
        if name == "client_name" { name = "name" }
        if name == "require_pkce" { name = "require_proof_key_for_code_exchange" }
        if name == "require_par" { name = "require_pushed_authorization_requests" }
        if name == "scopes" || name == "scope" { name = "allowed_scopes" }
        if name == "audiences" { name = "allowed_audiences" }
        if agentKeys.map(snakeCase).contains(name) { name = "agent_config" }
        if mcpKeys.map(snakeCase).contains(name) { name = "mcp_config" }
        return name
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

    /// The JSON object for a client (numbers as numbers, every field present).
    public static func object(_ client: Authsec_V1_Client) -> [String: Any] {
        var object: [String: Any] = [
            "client_id": client.clientID,
            "name": client.name,
            "description": client.description_p,
            "app_type": client.appType,
            "logo": client.logo,
            "website": client.website,
            "grant_types": client.grantTypes,
            "token_endpoint_auth_method": client.tokenEndpointAuthMethod,
            "callbacks": client.callbacks,
            "web_origins": client.webOrigins,
            "logout_urls": client.logoutUrls,
            "allowed_scopes": client.allowedScopes,
            "allowed_audiences": client.allowedAudiences,
            "resources": client.resources,
            "disabled": client.disabled,
            "access_token_lifetime": client.accessTokenLifetime,
            "refresh_token_lifetime": client.refreshTokenLifetime,
            "id_token_lifetime": client.idTokenLifetime,
            "rotate_refresh_token": client.rotateRefreshToken,
            "require_proof_key_for_code_exchange": client.requireProofKeyForCodeExchange,
            "jwks_uri": client.jwksUri,
            "require_pushed_authorization_requests": client.requirePushedAuthorizationRequests,
            "is_confidential": client.isConfidential,
            "created_at": client.createdAt,
            "updated_at": client.updatedAt,
        ]
        if !client.jwks.isEmpty, let jwks = try? JSONSerialization.jsonObject(with: Data(client.jwks.utf8)) {
            object["jwks"] = jwks
        }
        if client.hasAgentConfig {
            let agent = client.agentConfig
            var value: [String: Any] = [
                "agent_type": agent.agentType, "capabilities": agent.capabilities,
                "context_retention": agent.contextRetention, "max_context_size": agent.maxContextSize,
            ]
            if agent.hasRateLimits {
                value["rate_limits"] = [
                    "requests_per_minute": agent.rateLimits.requestsPerMinute,
                    "tokens_per_day": agent.rateLimits.tokensPerDay,
                ]
            }
            object["agent_config"] = value
        }
        if client.hasMcpConfig {
            let mcp = client.mcpConfig
            object["mcp_config"] =
                [
                    "protocol_version": mcp.protocolVersion, "supported_features": mcp.supportedFeatures,
                    "endpoints": mcp.endpoints,
                    "security": [
                        "require_auth": mcp.security.requireAuth, "allowed_origins": mcp.security.allowedOrigins,
                    ],
                ] as [String: Any]
        }
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

/// Typed access to a JSON object that names the field on every type error.
struct Reader {
    let object: [String: Any]
    let path: String
    private(set) var used: Set<String> = []

    init(object: [String: Any], path: String) {
        self.object = object
        self.path = path
    }

    var unusedKeys: [String] { object.keys.filter { !used.contains($0) }.sorted().map { path + $0 } }

    func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    private mutating func value(_ key: String) -> Any? {
        used.insert(key)
        guard let value = object[key], !(value is NSNull) else { return nil }
        return value
    }

    private func fail(_ key: String, _ problem: String) -> ClientJSON.FieldError {
        ClientJSON.FieldError(field: path + key, problem: problem)
    }

    mutating func string(_ key: String) throws -> String {
        guard let value = value(key) else { return "" }
        guard let text = value as? String else { throw fail(key, "must be a string") }
        return text
    }

    mutating func strings(_ key: String) throws -> [String] {
        guard let value = value(key) else { return [] }
        guard let list = value as? [Any] else { throw fail(key, "must be an array of strings") }
        return try list.map {
            guard let text = $0 as? String else { throw fail(key, "must be an array of strings") }
            return text
        }
    }

    mutating func integer(_ key: String) throws -> Int64 {
        guard let value = value(key) else { return 0 }
        if let number = value as? NSNumber, !isJSONBool(number), let exact = Int64(exactly: number.doubleValue) {
            return exact
        }
        throw fail(key, "must be a whole number")
    }

    mutating func bool(_ key: String) throws -> Bool {
        guard let value = value(key) else { return false }
        guard let number = value as? NSNumber, isJSONBool(number) else { throw fail(key, "must be true or false") }
        return number.boolValue
    }

    /// A duration given as text (`24h`) or as a number of seconds.
    mutating func durationText(_ key: String) throws -> String {
        guard let value = value(key) else { return "" }
        if let text = value as? String { return text }
        if let number = value as? NSNumber, !isJSONBool(number), let seconds = Int64(exactly: number.doubleValue) {
            return "\(seconds)s"
        }
        throw fail(key, "must be a duration such as \"24h\"")
    }

    mutating func object(_ key: String) throws -> Reader {
        let value = value(key)
        guard let object = value as? [String: Any] else { throw fail(key, "must be an object") }
        return Reader(
            object: try ClientJSON.renamed(object, path: path + key + ".", ClientJSON.snakeCase), path: path + key + "."
        )
    }

    mutating func stringMap(_ key: String) throws -> [String: String] {
        guard let value = value(key) else { return [:] }
        guard let map = value as? [String: Any] else { throw fail(key, "must be an object of strings") }
        return try map.mapValues {
            guard let text = $0 as? String else { throw fail(key, "must be an object of strings") }
            return text
        }
    }

    /// Inline JSON (an object) kept as its text, or a string holding JSON.
    mutating func jsonText(_ key: String) throws -> String {
        guard let value = value(key) else { return "" }
        if let text = value as? String { return text }
        guard JSONSerialization.isValidJSONObject(value),
            let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
        else { throw fail(key, "must be a JWK Set object") }
        return String(decoding: data, as: UTF8.self)
    }
}

/// JSON booleans decode as NSNumber too, and `0 is Bool` holds; only their boxed type ("c") tells.
private func isJSONBool(_ number: NSNumber) -> Bool {
    String(cString: number.objCType) == "c"
}
