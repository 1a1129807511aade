import Store

extension Client {
    init(record r: Authsec_Store_V1_ClientRecord) {
        self.init(
            clientID: r.clientID, name: r.name, appType: AppType(rawValue: r.appType) ?? .aiAgent, now: r.createdAt)
        description = r.description_p
        logo = r.logo
        website = r.website
        grantTypes = r.grantTypes.compactMap(GrantType.init(rawValue:))
        authMethod = ClientAuthMethod(rawValue: r.tokenEndpointAuthMethod) ?? .clientSecretBasic
        callbacks = r.callbacks
        webOrigins = r.webOrigins
        logoutURLs = r.logoutUrls
        allowedScopes = r.allowedScopes
        allowedAudiences = r.allowedAudiences
        resources = r.resources
        isDisabled = r.disabled
        accessTokenLifetime = r.accessTokenLifetime
        refreshTokenLifetime = r.refreshTokenLifetime
        idTokenLifetime = r.idTokenLifetime
        rotateRefreshToken = r.rotateRefreshToken
        requirePKCE = r.requirePkce
        jwks = r.jwks
        jwksURI = r.jwksUri
        requirePAR = r.requirePar
        if r.agentConfig.isSet {
            let a = r.agentConfig
            agent = AgentConfiguration(
                agentType: a.agentType, capabilities: a.capabilities, contextRetention: a.contextRetention,
                maxContextSize: a.maxContextSize,
                rateLimits: a.hasRateLimits
                    ? RateLimits(
                        requestsPerMinute: a.rateLimits.requestsPerMinute, tokensPerDay: a.rateLimits.tokensPerDay)
                    : nil)
        }
        if r.mcpConfig.isSet {
            let m = r.mcpConfig
            mcp = MCPConfiguration(
                protocolVersion: m.protocolVersion, supportedFeatures: m.supportedFeatures, endpoints: m.endpoints,
                requireAuth: m.requireAuth, allowedOrigins: m.allowedOrigins)
        }
        updatedAt = r.updatedAt
    }

    func record(secretHashes: [[UInt8]]) -> Authsec_Store_V1_ClientRecord {
        var r = Authsec_Store_V1_ClientRecord()
        r.clientID = clientID
        r.name = name
        r.description_p = description
        r.appType = appType.rawValue
        r.logo = logo
        r.website = website
        r.grantTypes = grantTypes.map(\.rawValue)
        r.tokenEndpointAuthMethod = authMethod.rawValue
        r.callbacks = callbacks
        r.webOrigins = webOrigins
        r.logoutUrls = logoutURLs
        r.allowedScopes = allowedScopes
        r.allowedAudiences = allowedAudiences
        r.resources = resources
        r.disabled = isDisabled
        r.accessTokenLifetime = accessTokenLifetime
        r.refreshTokenLifetime = refreshTokenLifetime
        r.idTokenLifetime = idTokenLifetime
        r.rotateRefreshToken = rotateRefreshToken
        r.requirePkce = requirePKCE
        r.jwks = jwks
        r.jwksUri = jwksURI
        r.requirePar = requirePAR
        if let agent {
            r.agentConfig.isSet = true
            r.agentConfig.agentType = agent.agentType
            r.agentConfig.capabilities = agent.capabilities
            r.agentConfig.contextRetention = agent.contextRetention
            r.agentConfig.maxContextSize = agent.maxContextSize
            if let limits = agent.rateLimits {
                r.agentConfig.rateLimits.requestsPerMinute = limits.requestsPerMinute
                r.agentConfig.rateLimits.tokensPerDay = limits.tokensPerDay
            }
        }
        if let mcp {
            r.mcpConfig.isSet = true
            r.mcpConfig.protocolVersion = mcp.protocolVersion
            r.mcpConfig.supportedFeatures = mcp.supportedFeatures
            r.mcpConfig.endpoints = mcp.endpoints
            r.mcpConfig.requireAuth = mcp.requireAuth
            r.mcpConfig.allowedOrigins = mcp.allowedOrigins
        }
        r.createdAt = createdAt
        r.updatedAt = updatedAt
        r.secretHashes = secretHashes.map { Data($0) }
        return r
    }
}

import Foundation
