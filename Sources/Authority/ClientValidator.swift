import ClientModel
import Foundation
import JWTKit

/// Applies a `ClientChange` to a client and checks the result once, naming the first field it
/// refuses; the one rule every way of writing a client goes through.
///
/// Rules (DESIGN.md "Clients", RFC 6749 §3.1.2, RFC 8252 §7, OAuth 2.1 §2.3.1):
/// callbacks are absolute URLs without a fragment: https, http only on a loopback host, or a
/// private-use scheme for mobile apps; web origins are `scheme://host[:port]` only. Grant types,
/// the auth method and the lifetimes given empty (or 0) keep the base's value. Spellings are stored
/// canonical (`ai_agent`, the device-code URN), lists without repeats, the name trimmed.
enum ClientValidator {
    static let oidcScopes: Set<String> = ["openid", "profile", "email", "address", "phone", "offline_access"]
    static let maxRequestsPerMinute: Int64 = 1_000_000_000
    static let maxTokensPerDay: Int64 = 1_000_000_000_000
    static let agentTypes: Set<String> = ["conversational", "task", "analytical"]
    static let mcpFeatures: Set<String> = [
        "tools", "resources", "prompts", "sampling", "logging", "roots", "completions",
    ]

    /// `base` with `change` applied; throws `invalid_client_metadata` or `invalid_redirect_uri`.
    static func apply(_ change: ClientChange, to base: Client, scopeExists: (String) throws -> Bool) throws
        -> Client
    {
        try validate(change.applied(to: base.fields), base: base, scopeExists: scopeExists)
    }

    /// `client` (a change already applied to `base`) checked and put in canonical form; `base`
    /// gives the values of the settings that keep theirs when given empty.
    static func validate(_ client: consuming Authsec_V1_Client, base: Client, scopeExists: (String) throws -> Bool)
        throws -> Client
    {
        // Consumed: a caller's temporary is changed in place, not copied on the first write.
        var client = client
        guard let appType = AppType(spelling: client.appType) else {
            throw metadata("app_type", "'\(client.appType)' is not one of ai_agent, mcp_server, web, mobile")
        }
        client.appType = appType.rawValue
        client.name = trimmed(client.name)
        try require(!client.name.isEmpty, "name", "is required")
        try require(client.name.count <= 200, "name", "is longer than 200 characters")
        try require(client.description_p.count <= 2000, "description", "is longer than 2000 characters")
        try require(client.logo.isEmpty || isWebURL(client.logo), "logo", "must be an absolute http(s) URL")
        try require(
            client.website.isEmpty || isWebURL(client.website), "website", "must be an absolute http(s) URL")
        if client.grantTypes.isEmpty { client.grantTypes = base.fields.grantTypes }
        let grantTypes = try client.grantTypes.map { spelling in
            guard let grant = GrantType(spelling: spelling) else {
                let why =
                    ["implicit", "password"].contains(spelling)
                    ? "is not supported by OAuth 2.1" : "is not a known grant type"
                throw metadata("grant_types", "'\(spelling)' \(why)")
            }
            return grant
        }.uniqued()
        client.grantTypes = grantTypes.map(\.rawValue)
        if client.tokenEndpointAuthMethod.isEmpty {
            client.tokenEndpointAuthMethod = base.fields.tokenEndpointAuthMethod
        }
        guard let authMethod = ClientAuthMethod(rawValue: client.tokenEndpointAuthMethod) else {
            throw metadata(
                "token_endpoint_auth_method",
                "'\(client.tokenEndpointAuthMethod)' is not one of client_secret_basic, client_secret_post, private_key_jwt, none"
            )
        }
        if appType == .mobile {
            try require(
                authMethod == .none, "token_endpoint_auth_method",
                "must be none for a mobile app (it cannot keep a secret)")
            try require(
                !grantTypes.contains(.clientCredentials), "grant_types",
                "client_credentials is not allowed for a mobile app")
        }
        if authMethod == .none {
            for grant in [GrantType.clientCredentials, .tokenExchange, .jwtBearer] where grantTypes.contains(grant) {
                try require(
                    false, "grant_types",
                    "\(grant.rawValue) needs a confidential client (token_endpoint_auth_method other than none)")
            }
        }
        try require(
            client.tokenExchange.subjectClients.count <= 100 && client.tokenExchange.audiences.count <= 100,
            "token_exchange", "lists more than 100 entries")
        for callback in client.callbacks {
            if let problem = redirectProblem(callback, allowPrivateScheme: appType == .mobile) {
                throw AuthorityError(.invalidRedirectURI, "callbacks: '\(callback)' \(problem)")
            }
        }
        for origin in client.webOrigins {
            try require(isOrigin(origin), "web_origins", "'\(origin)' must be scheme://host[:port] with no path")
        }
        for url in client.logoutUrls {
            if let problem = redirectProblem(url, allowPrivateScheme: appType == .mobile) {
                throw metadata("logout_urls", "'\(url)' \(problem)")
            }
        }
        client.allowedScopes = client.allowedScopes.uniqued()
        for scope in client.allowedScopes {
            try require(Scopes.isValidName(scope), "allowed_scopes", "'\(scope)' is not a valid scope name")
            try require(
                oidcScopes.contains(scope) || scopeExists(scope), "allowed_scopes",
                "scope '\(scope)' does not exist; create it first")
        }
        client.allowedAudiences = client.allowedAudiences.uniqued()
        for audience in client.allowedAudiences {
            try require(isAbsoluteURI(audience), "allowed_audiences", "'\(audience)' must be an absolute URI")
        }
        client.resources = client.resources.uniqued()
        try require(client.resources.count <= 100, "resources", "lists more than 100 URIs")
        for resource in client.resources { try validate(resource: resource, field: "resources") }
        if client.accessTokenLifetime == 0 { client.accessTokenLifetime = base.fields.accessTokenLifetime }
        try require(
            (60...Client.maxAccessTokenLifetime).contains(client.accessTokenLifetime), "access_token_lifetime",
            "must be between 60 and \(Client.maxAccessTokenLifetime) seconds")
        if client.refreshTokenLifetime == 0 { client.refreshTokenLifetime = base.fields.refreshTokenLifetime }
        try require(
            (60...31_536_000).contains(client.refreshTokenLifetime), "refresh_token_lifetime",
            "must be between 60 and 31536000 seconds")
        if client.idTokenLifetime == 0 { client.idTokenLifetime = base.fields.idTokenLifetime }
        try require(
            (60...86_400).contains(client.idTokenLifetime), "id_token_lifetime", "must be between 60 and 86400 seconds")
        try require(
            (0...300).contains(client.refreshTokenLeeway), "refresh_token_leeway", "must be between 0 and 300 seconds")
        try require(
            ["", "ES256", "RS256"].contains(client.idTokenSignedResponseAlg), "id_token_signed_response_alg",
            "must be ES256 or RS256")
        try require(
            client.refreshTokenIdleLifetime == 0
                || (60...client.refreshTokenLifetime).contains(client.refreshTokenIdleLifetime),
            "refresh_token_idle_lifetime", "must be 0 (off) or between 60 seconds and refresh_token_lifetime")
        // Presence: a given flag without a value is false; stored and answered always set.
        client.rotateRefreshToken = client.rotateRefreshToken
        client.requireProofKeyForCodeExchange = client.requireProofKeyForCodeExchange
        client.requirePushedAuthorizationRequests = client.requirePushedAuthorizationRequests
        client.disabled = client.disabled
        if authMethod == .none {
            try require(
                client.requireProofKeyForCodeExchange, "require_proof_key_for_code_exchange",
                "cannot be false for a public client")
        }
        if !client.jwks.isEmpty {
            try require(client.jwksUri.isEmpty, "jwks", "give jwks or jwks_uri, not both")
            do {
                let set = try JSONDecoder().decode(JWKS.self, from: Data(client.jwks.utf8))
                try require(!set.keys.isEmpty, "jwks", "holds no keys")
            } catch let error as AuthorityError {
                throw error
            } catch {
                throw metadata("jwks", "is not a JWK Set: \(error)")
            }
        }
        if !client.jwksUri.isEmpty {
            try require(
                isWebURL(client.jwksUri, requireTLSUnlessLoopback: true), "jwks_uri",
                "must be an https URL (http only on loopback)")
        }
        if authMethod == .privateKeyJWT {
            try require(
                !client.jwks.isEmpty || !client.jwksUri.isEmpty, "jwks_uri", "private_key_jwt needs jwks or jwks_uri")
        }
        if client.hasAgentConfig { try validate(client.agentConfig) }
        if client.hasMcpConfig {
            let security = client.mcpConfig.hasSecurity
            client.mcpConfig.security.requireAuth = security ? client.mcpConfig.security.requireAuth : true
            try validate(client.mcpConfig)
        }
        // Derived from the auth method, never taken from the caller; kept with the fields so that
        // an answer needs no copy of them to set it.
        client.isConfidential = authMethod != .none
        return Client(fields: client)
    }

    static func validate(_ agent: Authsec_V1_AgentConfig) throws {
        try require(
            agent.agentType.isEmpty || agentTypes.contains(agent.agentType), "agent_config.agent_type",
            "'\(agent.agentType)' is not one of conversational, task, analytical")
        for capability in agent.capabilities {
            try require(
                isToken(capability), "agent_config.capabilities",
                "'\(capability)' must be a non-empty word of letters, digits, '_', '-', ':' or '.'")
        }
        try require(
            agent.contextRetention.isEmpty || DurationText.seconds(agent.contextRetention) != nil,
            "agent_config.context_retention", "'\(agent.contextRetention)' is not a duration such as 24h, 30m or 3600s")
        try require(agent.maxContextSize >= 0, "agent_config.max_context_size", "must not be negative")
        let limits = agent.rateLimits
        try require(
            !limits.hasRequestsPerMinute || (1...maxRequestsPerMinute).contains(limits.requestsPerMinute),
            "agent_config.rate_limits.requests_per_minute",
            "must be between 1 and \(maxRequestsPerMinute) (leave it out for no limit)")
        try require(
            !limits.hasTokensPerDay || (0...maxTokensPerDay).contains(limits.tokensPerDay),
            "agent_config.rate_limits.tokens_per_day",
            "must be between 0 and \(maxTokensPerDay) (leave it out for no budget)")
    }

    /// RFC 8707 §2: a resource identifier is an absolute URI without a fragment; ours are URLs.
    static func validate(resource: String, field: String) throws {
        try require(
            isWebURL(resource, requireTLSUnlessLoopback: true) && !resource.contains("#")
                && resource.utf8.count <= 2048,
            field, "'\(resource)' must be an https URL without a fragment (http only on loopback)")
        try require(resource != Scopes.managementAudience, field, "'\(resource)' is Authsec's management audience")
    }

    static func validate(_ mcp: Authsec_V1_McpConfig) throws {
        if !mcp.resource.isEmpty { try validate(resource: mcp.resource, field: "mcp_config.resource") }
        try require(
            mcp.protocolVersion.count <= 64 && !mcp.protocolVersion.contains(" "), "mcp_config.protocol_version",
            "is not a version string")
        for feature in mcp.supportedFeatures {
            try require(
                mcpFeatures.contains(feature), "mcp_config.supported_features",
                "'\(feature)' is not one of \(mcpFeatures.sorted().joined(separator: ", "))")
        }
        try require(mcp.endpoints.count <= 100, "mcp_config.endpoints", "lists more than 100 endpoints")
        for (name, url) in mcp.endpoints.sorted(by: { $0.key < $1.key }) {
            try require(isToken(name), "mcp_config.endpoints", "'\(name)' is not a valid endpoint name")
            try validate(resource: url, field: "mcp_config.endpoints.\(name)")
        }
        for origin in mcp.security.allowedOrigins {
            try require(
                isOrigin(origin), "mcp_config.security.allowed_origins",
                "'\(origin)' must be scheme://host[:port] with no path")
        }
    }

    // MARK: - URL rules

    /// Why `text` cannot be a redirect URI, or nil if it can.
    static func redirectProblem(_ text: String, allowPrivateScheme: Bool) -> String? {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased() else {
            return "is not an absolute URL"
        }
        if url.fragment != nil { return "must not have a fragment" }
        switch scheme {
        case "https":
            return (url.host ?? "").isEmpty ? "has no host" : nil
        case "http":
            return isLoopback(url.host)
                ? nil : "must use https (http is allowed only on localhost, 127.0.0.0/8 or [::1])"
        default:
            guard allowPrivateScheme else { return "must use https (private-use schemes are for mobile apps)" }
            // RFC 8252 §7.1: a private-use scheme, reverse-domain style; never a dangerous one.
            let refused: Set<String> = ["javascript", "data", "file", "vbscript", "about", "blob"]
            return refused.contains(scheme) ? "uses a forbidden scheme" : nil
        }
    }

    static func isWebURL(_ text: String, requireTLSUnlessLoopback: Bool = false) -> Bool {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), let host = url.host,
            !host.isEmpty
        else { return false }
        if scheme == "https" { return true }
        if scheme == "http" { return !requireTLSUnlessLoopback || isLoopback(host) }
        return false
    }

    static func isOrigin(_ text: String) -> Bool {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
            ["http", "https"].contains(scheme),
            let host = url.host, !host.isEmpty
        else { return false }
        return url.path.isEmpty && url.query == nil && url.fragment == nil && url.user == nil && url.password == nil
    }

    static func isAbsoluteURI(_ text: String) -> Bool {
        guard !text.isEmpty, !text.contains(where: \.isWhitespace), let url = URLComponents(string: text),
            let scheme = url.scheme
        else { return false }
        return !scheme.isEmpty && text.count <= 2048
    }

    /// Whether `host` is `localhost` or a loopback address literal (127.0.0.0/8, ::1). Parsed
    /// as an address, never matched as text: `127.evil.example` is a public name.
    static func isLoopback(_ host: String?) -> Bool {
        guard var host = host?.lowercased() else { return false }
        if host == "localhost" { return true }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        return withUnsafeBytes(of: &v6) { $0.elementsEqual(repeatElement(0, count: 15) + [1]) }
    }

    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 128
            && text.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_-:.".unicodeScalars.contains($0))
            }
    }

    static func require(_ condition: Bool, _ field: String, _ problem: @autoclosure () -> String) throws {
        if !condition { throw metadata(field, problem()) }
    }

    static func metadata(_ field: String, _ problem: String) -> AuthorityError {
        AuthorityError(.invalidClientMetadata, "\(field): \(problem)")
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    public func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

/// `text` without leading and trailing whitespace; the common untrimmed case costs no copy.
private func trimmed(_ text: String) -> String {
    let scalars = text.unicodeScalars
    guard let first = scalars.first, let last = scalars.last,
        first.properties.isWhitespace || last.properties.isWhitespace
    else { return text }
    let start = scalars.firstIndex { !$0.properties.isWhitespace } ?? scalars.endIndex
    guard start != scalars.endIndex, let end = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else {
        return ""
    }
    return String(scalars[start...end])
}
