/// Requested client settings as an admin wrote them: nil means "not given".
///
/// On create, what is not given takes the app type's default; on update, it keeps its value.
/// Strings are parsed and checked by `ClientValidator`, which names the field it refuses.
public struct ClientSettings: Sendable {
    public var name: String?
    public var description: String?
    public var appType: String?
    public var logo: String?
    public var website: String?
    public var grantTypes: [String]?
    public var authMethod: String?
    public var callbacks: [String]?
    public var webOrigins: [String]?
    public var logoutURLs: [String]?
    public var allowedScopes: [String]?
    public var allowedAudiences: [String]?
    public var resources: [String]?
    public var isDisabled: Bool?
    public var accessTokenLifetime: Int64?
    public var refreshTokenLifetime: Int64?
    public var idTokenLifetime: Int64?
    public var rotateRefreshToken: Bool?
    public var requirePKCE: Bool?
    public var jwks: String?
    public var jwksURI: String?
    public var requirePAR: Bool?
    public var agent: AgentConfiguration?
    public var mcp: MCPConfiguration?

    public init() {}
}
