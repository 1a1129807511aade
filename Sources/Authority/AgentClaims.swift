import ClientModel

/// An agent's settings as resource servers see them, so they can enforce them: in every
/// introspection answer about the agent's tokens (the settings as they are now), and, when the
/// client sets `agent_config.claims_in_token`, as the `agent` claim of its access tokens (the
/// settings when the token was issued).
public struct AgentClaims: Sendable, Equatable, Decodable {
    public var agentType: String
    public var capabilities: [String]
    public var contextRetention: String
    public var maxContextSize: Int64

    /// The claims of `config`; nil when it sets none of them.
    init?(_ config: Authsec_V1_AgentConfig) {
        guard
            !config.agentType.isEmpty || !config.capabilities.isEmpty || !config.contextRetention.isEmpty
                || config.maxContextSize != 0
        else { return nil }
        agentType = config.agentType
        capabilities = config.capabilities
        contextRetention = config.contextRetention
        maxContextSize = config.maxContextSize
    }

    /// These settings with strings and arrays of their own (see `AccessTokenClaims.ownedCopy`).
    var ownedCopy: AgentClaims {
        var copy = self
        copy.agentType = agentType.ownedCopy
        copy.capabilities = capabilities.map(\.ownedCopy)
        copy.contextRetention = contextRetention.ownedCopy
        return copy
    }

    enum CodingKeys: String, CodingKey {
        case agentType = "agent_type"
        case capabilities
        case contextRetention = "context_retention"
        case maxContextSize = "max_context_size"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        agentType = try container.decodeIfPresent(String.self, forKey: .agentType) ?? ""
        capabilities = try container.decodeIfPresent([String].self, forKey: .capabilities) ?? []
        contextRetention = try container.decodeIfPresent(String.self, forKey: .contextRetention) ?? ""
        maxContextSize = try container.decodeIfPresent(Int64.self, forKey: .maxContextSize) ?? 0
    }

    /// The settings as a JSON object; unset ones are left out.
    public var json: String {
        var json = [UInt8]()
        append(to: &json)
        return String(decoding: json, as: UTF8.self)
    }

    func append(to json: inout [UInt8]) {
        var separator = UInt8(ascii: "{")
        func key(_ name: String) {
            json.append(separator)
            separator = UInt8(ascii: ",")
            JSONText.appendString(name, to: &json)
            json.append(UInt8(ascii: ":"))
        }
        if !agentType.isEmpty {
            key(CodingKeys.agentType.rawValue)
            JSONText.appendString(agentType, to: &json)
        }
        if !capabilities.isEmpty {
            key(CodingKeys.capabilities.rawValue)
            json.append(UInt8(ascii: "["))
            for (index, capability) in capabilities.enumerated() {
                if index > 0 { json.append(UInt8(ascii: ",")) }
                JSONText.appendString(capability, to: &json)
            }
            json.append(UInt8(ascii: "]"))
        }
        if !contextRetention.isEmpty {
            key(CodingKeys.contextRetention.rawValue)
            JSONText.appendString(contextRetention, to: &json)
        }
        if maxContextSize != 0 {
            key(CodingKeys.maxContextSize.rawValue)
            json.append(contentsOf: String(maxContextSize).utf8)
        }
        if separator == UInt8(ascii: "{") { json.append(separator) }
        json.append(UInt8(ascii: "}"))
    }

    /// Roughly the heap bytes these claims hold, for caches bounded in bytes.
    var approximateByteCount: Int {
        96 + agentType.utf8.count + contextRetention.utf8.count + capabilities.reduce(32) { $0 + 32 + $1.utf8.count }
    }
}
