/// What kind of application a client is; chooses its default grants and authentication.
public enum AppType: String, CaseIterable, Sendable {
    case aiAgent = "ai_agent"
    case mcpServer = "mcp_server"
    case web
    case mobile

    /// Accepts the seed page's spellings too (`ai-agent`, `mcp-server`).
    public init?(spelling: String) {
        self.init(rawValue: spelling.lowercased().replacingOccurrences(of: "-", with: "_"))
    }
}

/// OAuth 2.1 grants a client may be allowed. There is no implicit or password grant.
public enum GrantType: String, CaseIterable, Sendable {
    case clientCredentials = "client_credentials"
    case authorizationCode = "authorization_code"
    case refreshToken = "refresh_token"
    case deviceCode = "urn:ietf:params:oauth:grant-type:device_code"

    /// Accepts `device_code` as shorthand for the RFC 8628 URN.
    public init?(spelling: String) {
        if spelling == "device_code" { self = .deviceCode } else { self.init(rawValue: spelling) }
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

public struct RateLimits: Sendable, Equatable {
    public var requestsPerMinute: Int64
    public var tokensPerDay: Int64

    public init(requestsPerMinute: Int64 = 0, tokensPerDay: Int64 = 0) {
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerDay = tokensPerDay
    }
}

/// The seed's AI agent configuration. Stored and returned; enforcement of rate limits comes later.
public struct AgentConfiguration: Sendable, Equatable {
    public var agentType: String
    public var capabilities: [String]
    public var contextRetention: String
    public var maxContextSize: Int64
    public var rateLimits: RateLimits?

    public init(
        agentType: String = "", capabilities: [String] = [], contextRetention: String = "", maxContextSize: Int64 = 0,
        rateLimits: RateLimits? = nil
    ) {
        self.agentType = agentType
        self.capabilities = capabilities
        self.contextRetention = contextRetention
        self.maxContextSize = maxContextSize
        self.rateLimits = rateLimits
    }
}

/// The seed's MCP server configuration.
public struct MCPConfiguration: Sendable, Equatable {
    public var protocolVersion: String
    public var supportedFeatures: [String]
    public var endpoints: [String: String]
    public var requireAuth: Bool
    public var allowedOrigins: [String]

    public init(
        protocolVersion: String = "", supportedFeatures: [String] = [], endpoints: [String: String] = [:],
        requireAuth: Bool = true, allowedOrigins: [String] = []
    ) {
        self.protocolVersion = protocolVersion
        self.supportedFeatures = supportedFeatures
        self.endpoints = endpoints
        self.requireAuth = requireAuth
        self.allowedOrigins = allowedOrigins
    }
}

/// A registered client with every setting resolved.
public struct Client: Sendable, Equatable {
    public var clientID: String
    public var name: String
    public var description: String
    public var appType: AppType
    public var logo: String
    public var website: String
    public var grantTypes: [GrantType]
    public var authMethod: ClientAuthMethod
    public var callbacks: [String]
    public var webOrigins: [String]
    public var logoutURLs: [String]
    public var allowedScopes: [String]
    public var allowedAudiences: [String]
    /// URIs this client serves as a resource server (RFC 8707); see `resourceIdentifiers`.
    public var resources: [String]
    /// A disabled client cannot authenticate, and its management tokens are refused.
    public var isDisabled: Bool
    public var accessTokenLifetime: Int64
    public var refreshTokenLifetime: Int64
    public var idTokenLifetime: Int64
    public var rotateRefreshToken: Bool
    public var requirePKCE: Bool
    public var jwks: String
    public var jwksURI: String
    public var requirePAR: Bool
    public var agent: AgentConfiguration?
    public var mcp: MCPConfiguration?
    public var createdAt: Int64
    public var updatedAt: Int64

    /// Whether `audiences` (a token's `aud`) names this client as a resource server: one of its
    /// `resources`, or an `mcp_server`'s endpoint URL. Such a client may introspect the token.
    public func isResourceServer(for audiences: [String]) -> Bool {
        audiences.contains { audience in
            resources.contains(audience) || (mcp?.endpoints.values.contains(audience) ?? false)
        }
    }

    /// Roughly the heap bytes this client holds, for caches bounded in bytes.
    var approximateByteCount: Int {
        func size(_ text: String) -> Int { text.utf8.count > 15 ? text.utf8.count + 32 : 0 }
        func size(_ list: [String]) -> Int { list.isEmpty ? 0 : 32 + list.reduce(0) { $0 + 16 + size($1) } }
        var total = 512
        total += size(clientID) + size(name) + size(description) + size(logo) + size(website) + size(jwks)
        total += size(jwksURI) + size(callbacks) + size(webOrigins) + size(logoutURLs) + size(allowedScopes)
        total += size(allowedAudiences) + size(resources)
        if let agent { total += 128 + size(agent.capabilities) + size(agent.contextRetention) }
        if let mcp {
            total += 128 + size(mcp.supportedFeatures) + size(mcp.allowedOrigins) + size(mcp.protocolVersion)
            total += mcp.endpoints.reduce(0) { $0 + 48 + size($1.key) + size($1.value) }
        }
        return total
    }

    /// Confidential clients can keep a credential (RFC 6749 §2.1); public ones use `none`.
    public var isConfidential: Bool { authMethod != .none }

    /// Defaults the seed page gives each type.
    public static let defaultAccessTokenLifetime: Int64 = 3600
    public static let defaultRefreshTokenLifetime: Int64 = 2_592_000
    public static let defaultIDTokenLifetime: Int64 = 3600
    /// The longest an access token may live; a retired signing key stays published this long.
    public static let maxAccessTokenLifetime: Int64 = 86_400

    /// A new client of `type` with that type's defaults (DESIGN.md "Clients").
    public init(clientID: String, name: String, appType: AppType, now: Int64) {
        self.clientID = clientID
        self.name = name
        self.description = ""
        self.appType = appType
        self.logo = ""
        self.website = ""
        switch appType {
        case .aiAgent, .mcpServer:
            grantTypes = [.clientCredentials]
            authMethod = .clientSecretBasic
            requirePKCE = true
        case .web:
            grantTypes = [.authorizationCode, .refreshToken]
            authMethod = .clientSecretBasic
            requirePKCE = true
        case .mobile:
            grantTypes = [.authorizationCode, .refreshToken]
            authMethod = .none
            requirePKCE = true
        }
        callbacks = []
        webOrigins = []
        logoutURLs = []
        allowedScopes = []
        allowedAudiences = []
        resources = []
        isDisabled = false
        accessTokenLifetime = Self.defaultAccessTokenLifetime
        refreshTokenLifetime = Self.defaultRefreshTokenLifetime
        idTokenLifetime = Self.defaultIDTokenLifetime
        rotateRefreshToken = true
        jwks = ""
        jwksURI = ""
        requirePAR = false
        agent = nil
        mcp = nil
        createdAt = now
        updatedAt = now
    }
}
