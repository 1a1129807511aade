import Authority
import Wire

extension Authsec_V1_Client {
    /// The wire form of a registered client.
    init(_ client: Client) {
        self.init()
        clientID = client.clientID
        name = client.name
        description_p = client.description
        appType = client.appType.rawValue
        logo = client.logo
        website = client.website
        grantTypes = client.grantTypes.map(\.rawValue)
        tokenEndpointAuthMethod = client.authMethod.rawValue
        callbacks = client.callbacks
        webOrigins = client.webOrigins
        logoutUrls = client.logoutURLs
        allowedScopes = client.allowedScopes
        allowedAudiences = client.allowedAudiences
        resources = client.resources
        disabled = client.isDisabled
        accessTokenLifetime = client.accessTokenLifetime
        refreshTokenLifetime = client.refreshTokenLifetime
        idTokenLifetime = client.idTokenLifetime
        rotateRefreshToken = client.rotateRefreshToken
        requireProofKeyForCodeExchange = client.requirePKCE
        jwks = client.jwks
        jwksUri = client.jwksURI
        requirePushedAuthorizationRequests = client.requirePAR
        if let agent = client.agent {
            agentConfig.agentType = agent.agentType
            agentConfig.capabilities = agent.capabilities
            agentConfig.contextRetention = agent.contextRetention
            agentConfig.maxContextSize = agent.maxContextSize
            if let limits = agent.rateLimits {
                agentConfig.rateLimits.requestsPerMinute = limits.requestsPerMinute
                agentConfig.rateLimits.tokensPerDay = limits.tokensPerDay
            }
        }
        if let mcp = client.mcp {
            mcpConfig.protocolVersion = mcp.protocolVersion
            mcpConfig.supportedFeatures = mcp.supportedFeatures
            mcpConfig.endpoints = mcp.endpoints
            mcpConfig.security.requireAuth = mcp.requireAuth
            mcpConfig.security.allowedOrigins = mcp.allowedOrigins
        }
        createdAt = client.createdAt
        updatedAt = client.updatedAt
        isConfidential = client.isConfidential
    }
}

extension ClientSettings {
    /// Field names an update mask may list (the `Client` message's field names).
    static let maskableFields: Set<String> = [
        "name", "description", "app_type", "logo", "website", "grant_types", "token_endpoint_auth_method", "callbacks",
        "web_origins", "logout_urls", "allowed_scopes", "allowed_audiences", "resources", "disabled",
        "access_token_lifetime",
        "refresh_token_lifetime", "id_token_lifetime", "rotate_refresh_token", "require_proof_key_for_code_exchange",
        "jwks", "jwks_uri", "require_pushed_authorization_requests", "agent_config", "mcp_config",
    ]

    /// Settings from a wire client. Without a mask (create) every non-empty field counts as given;
    /// with one (update) exactly the listed fields do, so a listed empty field clears it.
    init(_ wire: Authsec_V1_Client, mask: [String]?) throws(AuthorityError) {
        self.init()
        let given: (String, Bool) -> Bool
        if let mask {
            for field in mask where !Self.maskableFields.contains(field) {
                throw AuthorityError(
                    .invalidRequest, "update_mask: '\(field)' is not a client field that can be changed")
            }
            let fields = Set(mask)
            given = { name, _ in fields.contains(name) }
        } else {
            given = { _, isSet in isSet }
        }
        if given("name", !wire.name.isEmpty) { name = wire.name }
        if given("description", !wire.description_p.isEmpty) { description = wire.description_p }
        if given("app_type", !wire.appType.isEmpty) { appType = wire.appType }
        if given("logo", !wire.logo.isEmpty) { logo = wire.logo }
        if given("website", !wire.website.isEmpty) { website = wire.website }
        if given("grant_types", !wire.grantTypes.isEmpty) { grantTypes = wire.grantTypes }
        if given("token_endpoint_auth_method", !wire.tokenEndpointAuthMethod.isEmpty) {
            authMethod = wire.tokenEndpointAuthMethod
        }
        if given("callbacks", !wire.callbacks.isEmpty) { callbacks = wire.callbacks }
        if given("web_origins", !wire.webOrigins.isEmpty) { webOrigins = wire.webOrigins }
        if given("logout_urls", !wire.logoutUrls.isEmpty) { logoutURLs = wire.logoutUrls }
        if given("allowed_scopes", !wire.allowedScopes.isEmpty) { allowedScopes = wire.allowedScopes }
        if given("allowed_audiences", !wire.allowedAudiences.isEmpty) { allowedAudiences = wire.allowedAudiences }
        if given("resources", !wire.resources.isEmpty) { resources = wire.resources }
        if given("disabled", wire.hasDisabled) { isDisabled = wire.disabled }
        if given("access_token_lifetime", wire.accessTokenLifetime != 0) {
            accessTokenLifetime = wire.accessTokenLifetime
        }
        if given("refresh_token_lifetime", wire.refreshTokenLifetime != 0) {
            refreshTokenLifetime = wire.refreshTokenLifetime
        }
        if given("id_token_lifetime", wire.idTokenLifetime != 0) { idTokenLifetime = wire.idTokenLifetime }
        if given("rotate_refresh_token", wire.hasRotateRefreshToken) { rotateRefreshToken = wire.rotateRefreshToken }
        if given("require_proof_key_for_code_exchange", wire.hasRequireProofKeyForCodeExchange) {
            requirePKCE = wire.requireProofKeyForCodeExchange
        }
        if given("jwks", !wire.jwks.isEmpty) { jwks = wire.jwks }
        if given("jwks_uri", !wire.jwksUri.isEmpty) { jwksURI = wire.jwksUri }
        if given("require_pushed_authorization_requests", wire.hasRequirePushedAuthorizationRequests) {
            requirePAR = wire.requirePushedAuthorizationRequests
        }
        if given("agent_config", wire.hasAgentConfig) {
            let a = wire.agentConfig
            agent = AgentConfiguration(
                agentType: a.agentType, capabilities: a.capabilities, contextRetention: a.contextRetention,
                maxContextSize: a.maxContextSize,
                rateLimits: a.hasRateLimits
                    ? RateLimits(
                        requestsPerMinute: a.rateLimits.requestsPerMinute, tokensPerDay: a.rateLimits.tokensPerDay)
                    : nil)
        }
        if given("mcp_config", wire.hasMcpConfig) {
            let m = wire.mcpConfig
            mcp = MCPConfiguration(
                protocolVersion: m.protocolVersion, supportedFeatures: m.supportedFeatures, endpoints: m.endpoints,
                requireAuth: m.hasSecurity ? m.security.requireAuth : true, allowedOrigins: m.security.allowedOrigins)
        }
    }
}
