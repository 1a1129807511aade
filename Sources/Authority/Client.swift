import ClientModel

/// What kind of application a client is; chooses its default grants and authentication.
public enum AppType: String, CaseIterable, Sendable {
    case aiAgent = "ai_agent"
    case mcpServer = "mcp_server"
    case web
    case mobile

    /// Accepts the seed page's spellings too (`ai-agent`, `mcp-server`).
    public init?(spelling: String) {
        if let exact = AppType(rawValue: spelling) {
            self = exact
            return
        }
        self.init(rawValue: spelling.lowercased().replacingOccurrences(of: "-", with: "_"))
    }
}

/// OAuth 2.1 grants a client may be allowed. There is no implicit or password grant.
public enum GrantType: String, CaseIterable, Sendable {
    case clientCredentials = "client_credentials"
    case authorizationCode = "authorization_code"
    case refreshToken = "refresh_token"
    case deviceCode = "urn:ietf:params:oauth:grant-type:device_code"
    case tokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    /// RFC 7523 §2.1, for Identity Assertion JWT Authorization Grants (enterprise-managed authorization).
    case jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    /// Accepts `device_code`, `token_exchange` and `jwt_bearer` as shorthand for the RFC 8628,
    /// RFC 8693 and RFC 7523 URNs.
    public init?(spelling: String) {
        switch spelling {
        case "device_code": self = .deviceCode
        case "token_exchange": self = .tokenExchange
        case "jwt_bearer": self = .jwtBearer
        default: self.init(rawValue: spelling)
        }
    }
}

/// How a client proves itself at the token endpoint (RFC 7591 `token_endpoint_auth_method`).
public enum ClientAuthMethod: String, CaseIterable, Sendable {
    case clientSecretBasic = "client_secret_basic"
    case clientSecretPost = "client_secret_post"
    case privateKeyJWT = "private_key_jwt"
    case none

    /// Whether the client holds a shared secret.
    public var usesSecret: Bool { self == .clientSecretBasic || self == .clientSecretPost }
}

/// A registered client: its validated fields, and the few values the token path reads parsed
/// once, when the client is made (by `ClientValidator`, or from the store).
///
/// Every field of `proto/authsec/v1/client.proto` reads as a property (`client.allowedScopes`);
/// the parsed ones (`appType`, `grantTypes`, `authMethod`) shadow their text.
@dynamicMemberLookup
public struct Client: Sendable, Equatable {
    /// The fields as validated and stored; `is_confidential` is derived (see `isConfidential`), and
    /// unset in records written before it was kept.
    public private(set) var fields: Authsec_V1_Client
    public let appType: AppType
    public let grantTypes: [GrantType]
    public let authMethod: ClientAuthMethod
    /// The fields every token call reads, copied out once: a dynamic member is a key path
    /// applied at run time into the message's storage, which costs on the hottest paths.
    public let clientID: String
    public let allowedScopes: [String]
    public let allowedAudiences: [String]
    public let accessTokenLifetime: Int64
    /// `agent_config.rate_limits.requests_per_minute`; 0 when not limited.
    let requestsPerMinute: Int64
    /// The agent's settings as claims (nil when it has none), for introspection and tokens.
    let agentClaims: AgentClaims?

    /// A client from fields that were validated when stored; an unknown spelling (never written)
    /// reads as the safest choice rather than failing every request of the client.
    init(fields: Authsec_V1_Client) {
        self.fields = fields
        appType = AppType(rawValue: fields.appType) ?? .aiAgent
        grantTypes = fields.grantTypes.compactMap(GrantType.init(rawValue:))
        authMethod = ClientAuthMethod(rawValue: fields.tokenEndpointAuthMethod) ?? .clientSecretBasic
        clientID = fields.clientID
        allowedScopes = fields.allowedScopes
        allowedAudiences = fields.allowedAudiences
        accessTokenLifetime = fields.accessTokenLifetime
        let limits = fields.agentConfig.rateLimits
        requestsPerMinute = limits.hasRequestsPerMinute ? limits.requestsPerMinute : 0
        agentClaims = AgentClaims(fields.agentConfig)
    }

    /// A field by its generated name (`client.allowedScopes`, `client.jwksUri`).
    public subscript<Value>(dynamicMember field: KeyPath<Authsec_V1_Client, Value>) -> Value {
        fields[keyPath: field]
    }

    /// Confidential clients can keep a credential (RFC 6749 §2.1); public ones use `none`.
    public var isConfidential: Bool { authMethod != .none }

    /// A disabled client cannot authenticate, and its management tokens are refused.
    public var isDisabled: Bool { fields.disabled }

    /// The fields as answered: with the derived `is_confidential`.
    public var answered: Authsec_V1_Client {
        guard fields.isConfidential != isConfidential else { return fields }
        var answered = fields
        answered.isConfidential = isConfidential
        return answered
    }

    /// The RFC 8707 resource identifiers this client serves: its `resources`, and an MCP
    /// server's canonical `resource` and endpoint URLs.
    public var resourceIdentifiers: [String] {
        var identifiers = fields.resources
        if !fields.mcpConfig.resource.isEmpty { identifiers.append(fields.mcpConfig.resource) }
        identifiers += fields.mcpConfig.endpoints.values.sorted()
        return identifiers.uniqued()
    }

    /// Whether `audiences` (a token's `aud`) names this client as a resource server (one of its
    /// `resourceIdentifiers`). Such a client may introspect the token.
    public func isResourceServer(for audiences: [String]) -> Bool {
        audiences.contains { audience in
            fields.resources.contains(audience) || fields.mcpConfig.resource == audience
                || fields.mcpConfig.endpoints.values.contains(audience)
        }
    }

    /// Whether an admin made the client, rather than the client itself at /register.
    public var isRegistered: Bool { fields.registeredAt != 0 }

    /// Roughly the heap bytes this client holds, for caches bounded in bytes.
    var approximateByteCount: Int {
        // Twice the encoded size covers the strings' headers and the arrays' capacity.
        512 + 2 * ((try? fields.serializedBytes() as [UInt8])?.count ?? 4096)
    }

    /// Records a change at `now`; the one field set after validation, and none the parsed values come from.
    mutating func stamp(updatedAt now: Int64) { fields.updatedAt = now }

    /// Defaults the seed page gives each type.
    public static let defaultAccessTokenLifetime: Int64 = 3600
    public static let defaultRefreshTokenLifetime: Int64 = 2_592_000
    public static let defaultIDTokenLifetime: Int64 = 3600
    /// The longest an access token may live; a retired signing key stays published this long.
    public static let maxAccessTokenLifetime: Int64 = 86_400

    /// The fields of a new client of `type`: those `given` sets, and that type's defaults for
    /// the others (DESIGN.md "Clients"); every optional field is set, so a change that does not
    /// give one keeps the default. The server-set fields are set here, whatever `given` holds.
    static func defaults(
        filling given: Authsec_V1_Client = Authsec_V1_Client(), clientID: String, appType: AppType, now: Int64
    ) -> Authsec_V1_Client {
        var fields = given
        fields.clientID = clientID
        if fields.appType.isEmpty { fields.appType = appType.rawValue }
        if fields.grantTypes.isEmpty {
            switch appType {
            case .aiAgent, .mcpServer: fields.grantTypes = [GrantType.clientCredentials.rawValue]
            case .web, .mobile:
                fields.grantTypes = [GrantType.authorizationCode.rawValue, GrantType.refreshToken.rawValue]
            }
        }
        if fields.tokenEndpointAuthMethod.isEmpty {
            fields.tokenEndpointAuthMethod =
                appType == .mobile ? ClientAuthMethod.none.rawValue : ClientAuthMethod.clientSecretBasic.rawValue
        }
        if !fields.hasRequireProofKeyForCodeExchange { fields.requireProofKeyForCodeExchange = true }
        if fields.accessTokenLifetime == 0 { fields.accessTokenLifetime = defaultAccessTokenLifetime }
        if fields.refreshTokenLifetime == 0 { fields.refreshTokenLifetime = defaultRefreshTokenLifetime }
        if fields.idTokenLifetime == 0 { fields.idTokenLifetime = defaultIDTokenLifetime }
        if !fields.hasRotateRefreshToken { fields.rotateRefreshToken = true }
        if !fields.hasRequirePushedAuthorizationRequests { fields.requirePushedAuthorizationRequests = false }
        if !fields.hasDisabled { fields.disabled = false }
        fields.createdAt = now
        fields.updatedAt = now
        fields.isConfidential = false
        fields.registeredAt = 0
        return fields
    }
}
