import Foundation
import Store

/// What the authorization endpoint does next for a checked request.
public enum AuthorizationStep: Sendable, Equatable {
    /// Show the sign-in page.
    case signIn
    /// Show the consent page for `scopes`, those the user has not granted this client yet.
    case consent(scopes: [String])
    /// Issue the code now: signed in, and every scope consented.
    case issue
}

extension Authority {
    /// Checks an authorization request (RFC 6749 §4.1.1, RFC 7636, RFC 8707, OpenID Connect Core
    /// §3.1.2.1). The client and redirect URI are checked first, since every later error is sent
    /// to that redirect URI; until they are known good, errors are pages. `pushed`: the
    /// parameters came from a pushed request (RFC 9126), which a client may be required to use.
    public func checkAuthorization(_ request: AuthorizationRequest, pushed: Bool = false) throws(AuthorizationRefusal)
        -> Authorization
    {
        let (client, redirectURI, state) = try checkedRedirect(request)
        do {
            return try checkParameters(request, client: client, redirectURI: redirectURI, pushed: pushed)
        } catch {
            throw .redirect(
                error as? AuthorityError ?? AuthorityError(.serverError, "internal error"),
                redirectURI: redirectURI.uri,
                state: state)
        }
    }

    private func checkedRedirect(_ request: AuthorizationRequest) throws(AuthorizationRefusal) -> (
        Client, (uri: String, wasGiven: Bool), String?
    ) {
        do {
            guard let clientID = try request.single("client_id") else {
                throw AuthorityError(.invalidRequest, "client_id is required")
            }
            guard clientID.utf8.count <= 255, let client = try registeredClient(clientID), !client.isDisabled else {
                throw AuthorityError(.invalidClient, "the client is unknown or disabled")
            }
            let state = try request.single("state")
            if let given = try request.single("redirect_uri") {
                guard Self.isRegisteredRedirect(given, of: client) else {
                    throw AuthorityError(.invalidRequest, "redirect_uri is not registered for this client")
                }
                return (client, (given, true), state)
            }
            // RFC 6749 §3.1.2.3: it may be left out only when exactly one is registered.
            guard client.callbacks.count == 1 else {
                throw AuthorityError(
                    .invalidRequest,
                    client.callbacks.isEmpty
                        ? "the client has no registered callbacks" : "redirect_uri is required for this client")
            }
            return (client, (client.callbacks[0], false), state)
        } catch let error as AuthorityError {
            throw .page(error)
        } catch {
            throw .page(AuthorityError(.serverError, "internal error", detail: "\(error)"))
        }
    }

    /// RFC 6749 §3.1.2.3 and the exact match of OAuth 2.1: the URI must be one of the client's
    /// callbacks, character for character, except that a loopback redirect of a native (mobile
    /// or public) client may use any port (RFC 8252 §7.3).
    static func isRegisteredRedirect(_ uri: String, of client: Client) -> Bool {
        if client.callbacks.contains(uri) { return true }
        guard client.appType == .mobile || !client.isConfidential, let given = LoopbackRedirect(uri) else {
            return false
        }
        return client.callbacks.contains { LoopbackRedirect($0)?.matches(given) ?? false }
    }

    private func checkParameters(
        _ request: AuthorizationRequest, client: Client, redirectURI: (uri: String, wasGiven: Bool), pushed: Bool
    ) throws -> Authorization {
        guard let responseType = try request.single("response_type") else {
            throw AuthorityError(.invalidRequest, "response_type is required")
        }
        guard responseType == "code" else {
            throw AuthorityError(.unsupportedResponseType, "only response_type=code is supported")
        }
        if let mode = try request.single("response_mode"), mode != "query" {
            throw AuthorityError(.invalidRequest, "only response_mode=query is supported")
        }
        guard client.grantTypes.contains(.authorizationCode) else {
            throw AuthorityError(.unauthorizedClient, "client is not allowed the authorization_code grant")
        }
        if try request.single("request") != nil {
            throw AuthorityError(.invalidRequest, "request objects are not supported; push the request (RFC 9126)")
        }
        if try request.single("request_uri") != nil {
            throw AuthorityError(.invalidRequestURI, "request_uri is accepted only at /authorize")
        }
        if client.requirePushedAuthorizationRequests, !pushed {
            throw AuthorityError(.invalidRequest, "this client must push its authorization requests (RFC 9126)")
        }
        let challenge = try checkedChallenge(request, client: client)
        let scopes = try checkedUserScopes(try request.single("scope"), client: client)
        let audiences = try checkedResources(request.all("resource"), client: client)
        let prompts = Set((try request.single("prompt") ?? "").split(separator: " ").map(String.init))
        guard prompts.isSubset(of: ["none", "login", "consent", "select_account"]) else {
            throw AuthorityError(.invalidRequest, "prompt takes none, login, consent and select_account")
        }
        if prompts.contains("none"), prompts.count > 1 {
            throw AuthorityError(.invalidRequest, "prompt=none cannot be combined with other values")
        }
        var maxAge: Int64?
        if let text = try request.single("max_age") {
            guard let value = Int64(text), value >= 0 else {
                throw AuthorityError(.invalidRequest, "max_age must be a whole number of seconds")
            }
            maxAge = value
        }
        let nonce = try request.single("nonce")
        let state = try request.single("state")
        for (name, value) in [("state", state), ("nonce", nonce)] where (value?.utf8.count ?? 0) > 512 {
            throw AuthorityError(.invalidRequest, "\(name) is longer than 512 bytes")
        }
        return Authorization(
            clientID: client.clientID, redirectURI: redirectURI.uri, redirectURIWasGiven: redirectURI.wasGiven,
            scopes: scopes, audiences: audiences, state: state, nonce: nonce, codeChallenge: challenge,
            requiresSignIn: prompts.contains("login") || prompts.contains("select_account"),
            requiresConsent: prompts.contains("consent"), forbidsInteraction: prompts.contains("none"),
            maxAge: maxAge, loginHint: try request.single("login_hint").map { String($0.prefix(256)) },
            checkedAt: clock.now())
    }

    /// RFC 7636 §4.3: S256 only (`plain` lets a stolen code be redeemed), required for public
    /// clients and wherever `require_proof_key_for_code_exchange` is set.
    private func checkedChallenge(_ request: AuthorizationRequest, client: Client) throws -> String? {
        let method = try request.single("code_challenge_method")
        guard let challenge = try request.single("code_challenge") else {
            if !client.isConfidential || client.requireProofKeyForCodeExchange {
                throw AuthorityError(.invalidRequest, "code_challenge is required (PKCE, S256)")
            }
            if method != nil { throw AuthorityError(.invalidRequest, "code_challenge_method without code_challenge") }
            return nil
        }
        // RFC 7636 §4.3: an absent method means plain.
        guard method == "S256" else {
            throw AuthorityError(.invalidRequest, "code_challenge_method must be S256")
        }
        guard challenge.utf8.count == 43, Base64URL.decode(challenge)?.count == 32 else {
            throw AuthorityError(.invalidRequest, "code_challenge must be a base64url SHA-256 (43 characters)")
        }
        return challenge
    }

    /// The scopes of a grant made for a person: allowed to the client, registered (or OpenID's
    /// own), and never reserved; none requested means every such scope the client is allowed.
    func checkedUserScopes(_ scope: String?, client: Client) throws -> [String] {
        let requested: [String]
        if let scope {
            guard let parsed = Scopes.parse(scope) else { throw AuthorityError(.invalidScope, "scope is malformed") }
            for name in parsed {
                if Scopes.reserved.contains(name) {
                    throw AuthorityError(.invalidScope, "scope '\(name)' is never granted on a person's behalf")
                }
                guard client.allowedScopes.contains(name) else {
                    throw AuthorityError(.invalidScope, "scope '\(name)' is not allowed for this client")
                }
            }
            requested = parsed.uniqued()
        } else {
            requested = client.allowedScopes.filter { !Scopes.reserved.contains($0) }
        }
        let granted = try existingScopes(requested)
        if let missing = requested.first(where: { !granted.contains($0) }) {
            throw AuthorityError(.invalidScope, "scope '\(missing)' does not exist")
        }
        return granted
    }

    /// RFC 8707 in a flow where a person signs in and consents: each `resource` must be one of
    /// the client's `allowed_audiences` or any client's registered resource identifier
    /// (`resource_servers`), so that a client registered at run time needs no audience list.
    /// None means the issuer.
    func checkedResources(_ resources: [String], client: Client) throws -> [String] {
        guard !resources.isEmpty else { return [issuer] }
        guard resources.count <= Self.maxResourcesPerRequest else {
            throw AuthorityError(.invalidTarget, "at most \(Self.maxResourcesPerRequest) resources may be asked for")
        }
        for resource in resources where !client.allowedAudiences.contains(resource) {
            guard resource.utf8.count <= 2048, try isRegisteredResource(resource) else {
                throw AuthorityError(.invalidTarget, "resource '\(resource.prefix(200))' is not a registered resource")
            }
        }
        return resources.uniqued()
    }

    static let maxResourcesPerRequest = 10

    /// Whether some client serves `resource` (its `resources`, an MCP server's endpoints or resource).
    func isRegisteredResource(_ resource: String) throws -> Bool {
        try read { try $0.get(Keyspace.resourceServers, Secrets.storageKey(resource)) != nil }
    }

    // MARK: - What comes next

    /// Sign in, consent, or issue: by the browser's session and the user's consents. With
    /// `prompt=none`, a page that would be shown is an error instead (OpenID Connect Core §3.1.2.6).
    /// Once the user has signed in during the flow, the pages clear `requiresSignIn` and `maxAge`.
    public func nextStep(_ authorization: Authorization, session: BrowserSession?) throws -> AuthorizationStep {
        let now = clock.now()
        let mustSignIn =
            session == nil || authorization.requiresSignIn
            || authorization.maxAge.map { now - session!.authTime > $0 } ?? false
        if mustSignIn {
            if authorization.forbidsInteraction { throw AuthorityError(.loginRequired, "the user is not signed in") }
            return .signIn
        }
        let wanted =
            authorization.requiresConsent
            ? authorization.scopes
            : try unconsentedScopes(authorization.scopes, of: session!.sub, for: authorization.clientID)
        // A request that asks for no scope at all still needs the user's yes once.
        let firstTime = try consent(of: session!.sub, for: authorization.clientID) == nil
        if wanted.isEmpty && !firstTime && !authorization.requiresConsent { return .issue }
        if authorization.forbidsInteraction {
            throw AuthorityError(.consentRequired, "the user has not consented to this client's request")
        }
        return .consent(scopes: wanted)
    }

    /// The refusal sent to the client's redirect URI, for an error found after the request was checked.
    public func refusal(_ error: AuthorityError, for authorization: Authorization) -> String {
        AuthorizationResponse.url(
            authorization.redirectURI,
            [
                ("error", error.code.rawValue), ("error_description", error.description),
                ("state", authorization.state), ("iss", issuer),
            ])
    }

    /// Issues a code for `authorization` to the signed-in user of `session`, recording the
    /// user's consent to its scopes when `consented`; answers the URL to send the browser to.
    /// The code lives 60 seconds and is stored only hashed.
    public func issueCode(_ authorization: Authorization, session: BrowserSession, consented: Bool) async throws
        -> String
    {
        let now = clock.now()
        guard now - authorization.checkedAt <= Authorization.lifetime else {
            throw AuthorityError(.invalidRequest, "the authorization request has expired; start again")
        }
        let code = Secrets.opaqueToken()
        var record = Authsec_Store_V1_AuthorizationCodeRecord()
        record.clientID = authorization.clientID
        record.sub = session.sub
        record.redirectUri = authorization.redirectURIWasGiven ? authorization.redirectURI : ""
        record.scope = authorization.scopes.joined(separator: " ")
        record.audience = authorization.audiences
        record.codeChallenge = authorization.codeChallenge ?? ""
        record.nonce = authorization.nonce ?? ""
        record.authTime = session.authTime
        record.sessionID = session.sessionID
        record.expiresAt = now + Self.codeLifetime
        record.grantID = Secrets.grantID()
        let consentKey = session.sub + " " + authorization.clientID
        let scopes = authorization.scopes
        let allowed = Set(try registeredClient(authorization.clientID)?.allowedScopes ?? [])
        let issued = record
        try await write { txn in
            var consent = try txn.get(Keyspace.consents, consentKey)
            var stored = issued
            // Step-up: a client back for more scopes than the person consented to (after a
            // resource server's insufficient_scope) gets, once they consent to the new ones, the
            // union: what it had and what it asked for.
            if consented, let earlier = consent?.scopes, !Set(scopes).isSubset(of: earlier) {
                stored.scope = (earlier.filter(allowed.contains) + scopes).uniqued().joined(separator: " ")
            }
            try txn.put(Keyspace.authorizationCodes, Secrets.storageKey(code), stored)
            if consented {
                var given = consent ?? Authsec_Store_V1_ConsentRecord()
                if given.grantedAt == 0 { given.grantedAt = now }
                given.updatedAt = now
                given.scopes = (given.scopes + scopes).uniqued()
                consent = given
            }
            // The consent remembers the grants made under it, so that revoking it revokes them.
            if var consent {
                consent.grantIds = Array((consent.grantIds + [issued.grantID]).suffix(Self.grantsPerConsent))
                try txn.put(Keyspace.consents, consentKey, consent)
            }
        }
        return AuthorizationResponse.url(
            authorization.redirectURI, [("code", code), ("state", authorization.state), ("iss", issuer)])
    }

    /// Whether a checked authorization carried by the pages is still usable (`Authorization.lifetime`).
    public func isCurrent(_ authorization: Authorization) -> Bool {
        let age = clock.now() - authorization.checkedAt
        return age >= 0 && age <= Authorization.lifetime
    }

    /// Records a person's answer on the consent page in the audit log.
    public func noteConsent(
        _ authorization: Authorization, session: BrowserSession, allowed: Bool, context: CallContext
    ) {
        auditCount(
            .userConsent, outcome: allowed ? "ok" : AuthorityError.Code.accessDenied.rawValue, actor: session.sub,
            clientID: authorization.clientID, context: context)
    }

    /// How many of its latest grants a consent remembers (and revokes with it).
    static let grantsPerConsent = 100

    /// An authorization code's lifetime: 60 seconds at most (OAuth 2.1 §4.1.2).
    static let codeLifetime: Int64 = 60

    // MARK: - Consents

    /// The consent `sub` gave `clientID`, if any.
    func consent(of sub: String, for clientID: String) throws -> Authsec_Store_V1_ConsentRecord? {
        try read { try $0.get(Keyspace.consents, sub + " " + clientID) }
    }

    /// Those of `scopes` that `sub` has not yet granted `clientID`.
    func unconsentedScopes(_ scopes: [String], of sub: String, for clientID: String) throws -> [String] {
        guard let consent = try consent(of: sub, for: clientID) else { return scopes }
        return scopes.filter { !consent.scopes.contains($0) }
    }
}

/// A loopback redirect URI (RFC 8252 §7.3): `http`, host `127.0.0.1` or `[::1]`, any port.
struct LoopbackRedirect: Equatable {
    let host: String
    let rest: String

    init?(_ uri: String) {
        guard let components = URLComponents(string: uri), components.scheme == "http",
            let host = components.host, host == "127.0.0.1" || host == "[::1]" || host == "::1",
            components.user == nil, components.password == nil
        else { return nil }
        self.host = host
        var copy = components
        copy.port = nil
        copy.host = nil
        rest = copy.string ?? ""
    }

    func matches(_ other: LoopbackRedirect) -> Bool { self == other }
}
