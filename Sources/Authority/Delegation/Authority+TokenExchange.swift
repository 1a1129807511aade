import Foundation

extension Authority {
    /// RFC 8693 §3 token type identifiers.
    public static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
    static let jwtTokenType = "urn:ietf:params:oauth:token-type:jwt"

    /// RFC 8693 token exchange: `client` (an agent holding the grant) exchanges a person's
    /// access token for one that says it acts for that person: `sub` the person, `client_id` the
    /// agent, and `act: {"sub": agent}` (nesting the subject token's own `act`).
    ///
    /// Scopes are those of the subject token that the agent is also allowed; the audience is the
    /// subject token's that the agent may reach (`allowed_audiences`, or the issuer itself), each
    /// narrowed further by the agent's `token_exchange` policy and a `may_act` claim. Asking for
    /// more is `invalid_scope` or `invalid_target`. The token never outlives the subject token,
    /// is revoked with the person's grant, and comes without a refresh token. A subject or actor
    /// token that is invalid, not a person's, or refused by policy is `invalid_request` (§2.2.2).
    func exchangeToken(_ request: TokenRequest, client: Client) throws -> TokenGrant {
        guard client.isConfidential else {
            throw AuthorityError(.unauthorizedClient, "token exchange needs a confidential client")
        }
        guard let subjectToken = request.subjectToken, !subjectToken.isEmpty else {
            throw AuthorityError(.invalidRequest, "subject_token is required")
        }
        guard request.subjectTokenType == Self.accessTokenType else {
            throw AuthorityError(.invalidRequest, "subject_token_type must be \(Self.accessTokenType)")
        }
        if let wanted = request.requestedTokenType, !wanted.isEmpty, wanted != Self.accessTokenType,
            wanted != Self.jwtTokenType
        {
            throw AuthorityError(.invalidRequest, "requested_token_type must be \(Self.accessTokenType)")
        }
        if let actorToken = request.actorToken, !actorToken.isEmpty {
            // The actor is the authenticated client; a token for it may only say so again.
            guard request.actorTokenType == Self.accessTokenType,
                let actor = try verifyAccessToken(actorToken), actor.clientID == client.clientID,
                actor.sub == client.clientID
            else {
                throw AuthorityError(
                    .invalidRequest, "actor_token must be an active access token of the calling client itself")
            }
        } else if request.actorTokenType.map({ !$0.isEmpty }) ?? false {
            throw AuthorityError(.invalidRequest, "actor_token_type was sent without actor_token")
        }
        guard let subject = try verifyAccessToken(subjectToken) else {
            throw AuthorityError(.invalidRequest, "subject_token is invalid, expired or revoked")
        }
        guard subject.sub != subject.clientID, let user = try read({ try $0.get(Keyspace.users, subject.sub) }),
            !user.disabled
        else {
            throw AuthorityError(.invalidRequest, "subject_token was not issued to a person who can still sign in")
        }
        if let mayAct = subject.mayAct, mayAct != client.clientID {
            throw AuthorityError(.invalidRequest, "subject_token's may_act does not name this client")
        }
        let policy = client.tokenExchange
        if !policy.subjectClients.isEmpty, !policy.subjectClients.contains(subject.clientID) {
            throw AuthorityError(
                .invalidRequest, "this client may not exchange tokens issued to client \(subject.clientID)")
        }
        guard subject.actors.count < AccessTokenClaims.maxActors else {
            throw AuthorityError(.invalidRequest, "subject_token already names \(subject.actors.count) actors")
        }
        let scopes = try exchangedScopes(request.scope, subject: subject, client: client)
        let audiences = try exchangedAudiences(request.audiences, subject: subject, client: client)
        let now = clock.now()
        // A person's tokens carry their grant in `jti`; so does this one, to be revoked with it.
        let jti = subject.grantID.map { $0 + "." + Secrets.tokenID() } ?? Secrets.tokenID()
        let claims = AccessTokenClaims(
            iss: issuer, sub: subject.sub, aud: audiences, exp: min(now + client.accessTokenLifetime, subject.exp),
            iat: now, jti: jti, clientID: client.clientID, scope: scopes.joined(separator: " "),
            actors: [client.clientID] + subject.actors)
        return TokenGrant(
            accessToken: try signAccessToken(claims, now: now), expiresIn: claims.exp - now,
            scope: claims.scope, issuedTokenType: Self.accessTokenType)
    }

    /// The subject token's scopes the agent is also allowed (never a reserved one), or those asked for.
    private func exchangedScopes(_ scope: String?, subject: AccessTokenClaims, client: Client) throws -> [String] {
        let permitted = subject.scopes.filter { client.allowedScopes.contains($0) && !Scopes.reserved.contains($0) }
        guard let scope, !scope.isEmpty else {
            guard !permitted.isEmpty || subject.scopes.isEmpty else {
                throw AuthorityError(.invalidScope, "this client is allowed none of the subject token's scopes")
            }
            return permitted
        }
        guard let requested = Scopes.parse(scope) else { throw AuthorityError(.invalidScope, "scope is malformed") }
        for name in requested where !permitted.contains(name) {
            let whose = subject.scopes.contains(name) ? "this client is not allowed it" : "the subject token lacks it"
            throw AuthorityError(.invalidScope, "scope '\(name)' cannot be exchanged: \(whose)")
        }
        return requested
    }

    /// The subject token's audiences the agent may reach, or those asked for (`resource`/`audience`).
    private func exchangedAudiences(_ requested: [String], subject: AccessTokenClaims, client: Client) throws
        -> [String]
    {
        let policy = client.tokenExchange.audiences
        func agentMayReach(_ audience: String) -> Bool {
            (audience == issuer || client.allowedAudiences.contains(audience))
                && (policy.isEmpty || policy.contains(audience))
        }
        guard !requested.isEmpty else {
            let permitted = subject.aud.filter(agentMayReach)
            guard !permitted.isEmpty else {
                throw AuthorityError(.invalidTarget, "this client may reach none of the subject token's audiences")
            }
            return permitted
        }
        for audience in requested {
            guard subject.aud.contains(audience) else {
                throw AuthorityError(
                    .invalidTarget, "resource '\(audience.prefix(200))' is not an audience of the subject token")
            }
            guard agentMayReach(audience) else {
                throw AuthorityError(
                    .invalidTarget, "resource '\(audience.prefix(200))' is not allowed for this client")
            }
        }
        return requested.uniqued()
    }
}
