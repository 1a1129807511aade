import Foundation
import JWTKit
import Store

/// A token request, parsed from either door.
public struct TokenRequest: Sendable {
    public var grantType: String
    /// The `scope` parameter; nil when absent.
    public var scope: String?
    /// `audience` and RFC 8707 `resource` values.
    public var audiences: [String]
    public var credentials: ClientCredentials
    /// `authorization_code`: the code, the redirect URI sent to /authorize, the PKCE verifier.
    public var code: String?
    public var redirectURI: String?
    public var codeVerifier: String?
    /// `refresh_token`: the refresh token.
    public var refreshToken: String?
    /// The device flow (RFC 8628 §3.4): the device code.
    public var deviceCode: String?
    /// Token exchange (RFC 8693 §2.1).
    public var subjectToken: String?
    public var subjectTokenType: String?
    public var actorToken: String?
    public var actorTokenType: String?
    public var requestedTokenType: String?
    /// The JWT bearer grant (RFC 7523 §2.1): the assertion, such as an ID-JAG.
    public var assertion: String?

    public init(
        grantType: String, scope: String?, audiences: [String], credentials: ClientCredentials, code: String? = nil,
        redirectURI: String? = nil, codeVerifier: String? = nil, refreshToken: String? = nil, deviceCode: String? = nil,
        subjectToken: String? = nil, subjectTokenType: String? = nil, actorToken: String? = nil,
        actorTokenType: String? = nil, requestedTokenType: String? = nil, assertion: String? = nil
    ) {
        self.deviceCode = deviceCode
        self.subjectToken = subjectToken
        self.subjectTokenType = subjectTokenType
        self.actorToken = actorToken
        self.actorTokenType = actorTokenType
        self.requestedTokenType = requestedTokenType
        self.assertion = assertion
        self.grantType = grantType
        self.scope = scope
        self.audiences = audiences
        self.credentials = credentials
        self.code = code
        self.redirectURI = redirectURI
        self.codeVerifier = codeVerifier
        self.refreshToken = refreshToken
    }
}

/// A successful token response (RFC 6749 §5.1).
public struct TokenGrant: Sendable {
    public let accessToken: String
    public let tokenType = "Bearer"
    public let expiresIn: Int64
    public let scope: String
    /// Issued to a person's grant when the client has the `refresh_token` grant.
    public var refreshToken: String? = nil
    /// Issued when the grant holds `openid` (OpenID Connect Core §3.1.3.3).
    public var idToken: String? = nil
    /// RFC 8693 §2.2.1 `issued_token_type`, for a token exchange.
    public var issuedTokenType: String? = nil
}

/// An RFC 7662 answer: the claims of an active token, or nil for inactive.
public struct Introspection: Sendable {
    public let claims: AccessTokenClaims?
    /// The current settings of the agent the token was issued to, when it has any.
    public var agent: AgentClaims? = nil
    public var isActive: Bool { claims != nil }
}

extension Authority {
    // MARK: - Client authentication

    /// Authenticates the caller of the token, introspection or revocation endpoint: ready for a
    /// secret or a public client, pending for `private_key_jwt` (its replay check is a durable
    /// write, and its keys may have to be fetched).
    ///
    /// Secret methods (`client_secret_basic`, `client_secret_post`) are interchangeable: both prove
    /// the same secret. A `private_key_jwt` client must send an assertion; a public client has
    /// nothing to prove. Every failure is the same `invalid_client`, so it does not tell an
    /// unknown client from a wrong secret.
    ///
    /// An authenticated client over its `rate_limits.requests_per_minute` is refused with
    /// `rate_limited`, whichever call it makes.
    public func authenticate(_ credentials: ClientCredentials, context: CallContext = .inProcess) -> Answer<Client> {
        if case .assertion(let jwt, let claimedID) = credentials {
            return .pending {
                do {
                    return try self.admitted(
                        await self.authenticateAssertion(jwt, claimedID: claimedID, now: self.clock.now()),
                        context: context)
                } catch {
                    self.noteAuthenticationFailure(error, credentials, context)
                    throw error
                }
            }
        }
        if case .publicClient(let clientID) = credentials, Self.isClientDocumentURL(clientID),
            documentClient(clientID) == nil
        {
            return .pending {
                do {
                    let client = try await self.loadClientDocument(clientID)
                    guard client.authMethod == .none else {
                        throw AuthorityError(.invalidClient, "client authentication failed")
                    }
                    return try self.admitted(client, context: context)
                } catch {
                    self.noteAuthenticationFailure(error, credentials, context)
                    throw error
                }
            }
        }
        return .deciding {
            do {
                return .ready(.success(try admitted(authenticateWithoutAssertion(credentials), context: context)))
            } catch {
                noteAuthenticationFailure(error, credentials, context)
                throw error
            }
        }
    }

    /// Counts a failed client authentication in the audit log, under the client id it claimed.
    private func noteAuthenticationFailure(_ error: any Error, _ credentials: ClientCredentials, _ context: CallContext)
    {
        guard let error = error as? AuthorityError, error.code == .invalidClient else { return }
        let claimed = credentials.claimedClientID
        auditCount(
            .clientAuthenticate, outcome: error.code.rawValue, actor: claimed, clientID: claimed, context: context)
    }

    /// `client`, if its request rate allows one more request now.
    func admitted(_ client: Client, context: CallContext) throws -> Client {
        let perMinute = client.requestsPerMinute
        guard perMinute > 0 else { return client }
        guard let wait = rateLimiter.admit(client.clientID, perMinute: perMinute, now: clock.nanoseconds()) else {
            return client
        }
        auditCount(
            .rateLimitHit, outcome: AuthorityError.Code.rateLimited.rawValue, actor: client.clientID,
            clientID: client.clientID, context: context, usage: { $0.rateLimited += 1 })
        throw AuthorityError(
            .rateLimited, "the client is over its rate limit of \(perMinute) requests a minute",
            retryAfter: max(1, (wait + 999_999_999) / 1_000_000_000))
    }

    /// Every method but `private_key_jwt`. A secret is checked by its SHA-256 (secrets are
    /// 256-bit random, so a slow KDF would add nothing), through the secret cache when the same
    /// secret was seen since the last client change.
    private func authenticateWithoutAssertion(_ credentials: ClientCredentials) throws -> Client {
        let failure = AuthorityError(.invalidClient, "client authentication failed")
        let now = clock.now()
        switch credentials {
        case .missing:
            throw AuthorityError(.invalidClient, "client authentication is required")
        case .basic(let clientID, let secret), .post(let clientID, let secret):
            let hash = Secrets.hash(secret)
            let entry: HotPathCaches.SecretEntry
            if let cached = caches.secret(hash) {
                entry = cached
            } else {
                let generation = caches.generation
                guard
                    let loaded = try read({ txn -> HotPathCaches.SecretEntry? in
                        guard let record = try txn.get(Keyspace.clientSecrets, rawKey: hash),
                            let client = try txn.get(Keyspace.clients, record.clientID)
                        else { return nil }
                        return HotPathCaches.SecretEntry(
                            client: Client(record: client), expiresAt: record.expiresAt, generation: generation)
                    })
                else { throw failure }
                caches.remember(hash, loaded)
                entry = loaded
            }
            guard Secrets.constantTimeEqual(Array(entry.client.clientID.utf8), Array(clientID.utf8)),
                entry.expiresAt == 0 || now < entry.expiresAt, entry.client.authMethod.usesSecret,
                !entry.client.isDisabled
            else { throw failure }
            return entry.client
        case .publicClient(let clientID):
            let client =
                try read { try $0.get(Keyspace.clients, clientID) }.map(Client.init(record:))
                ?? documentClient(clientID)
            guard let client, client.authMethod == .none, !client.isDisabled else { throw failure }
            return client
        case .assertion:
            throw failure
        }
    }

    /// RFC 7523 §3: `iss` = `sub` = client_id, `aud` the issuer or token endpoint, `exp` at most
    /// five minutes ahead, `jti` used once (remembered until `exp`).
    func authenticateAssertion(_ jwt: String, claimedID: String?, now: Int64) async throws -> Client {
        let failure = AuthorityError(.invalidClient, "client assertion rejected")
        struct Claims: JWTPayload {
            let iss: IssuerClaim
            let sub: SubjectClaim
            let aud: AudienceClaim
            let exp: ExpirationClaim
            let jti: IDClaim
            func verify(using algorithm: some JWTAlgorithm) async throws {}
        }
        // Which client? `sub` before verification only chooses the keys to verify with.
        let parts = jwt.split(separator: ".")
        guard parts.count == 3, let payload = Base64URL.decode(parts[1]),
            let unverified = try? JSONDecoder().decode([String: JSONValue].self, from: Data(payload)),
            case .string(let subject)? = unverified["sub"]
        else { throw failure }
        if let claimedID, claimedID != subject { throw failure }
        let client: Client
        if let record = try read({ try $0.get(Keyspace.clients, subject) }) {
            client = Client(record: record)
        } else if Self.isClientDocumentURL(subject) {
            client = try await loadClientDocument(subject)
        } else {
            throw failure
        }
        guard client.authMethod == .privateKeyJWT, !client.isDisabled else { throw failure }
        func fetchedKeys(refresh: Bool) async throws -> String {
            guard let keyResolver else { throw failure }
            do {
                return try await keyResolver.jwks(at: client.jwksUri, refresh: refresh)
            } catch {
                // The same answer as a bad signature: a client must not learn through its
                // jwks_uri what the server can or cannot reach. The reason is for the log.
                throw AuthorityError(
                    .invalidClient, failure.description, detail: "the client's jwks_uri could not be read: \(error)")
            }
        }
        func verified(with jwksText: String) async throws -> Claims {
            let keys = JWTKeyCollection()
            do {
                try await keys.add(jwksJSON: jwksText)
                return try await keys.verify(jwt, as: Claims.self)
            } catch {
                throw AuthorityError(.invalidClient, "client assertion rejected", detail: "\(error)")
            }
        }
        let claims: Claims
        if !client.jwks.isEmpty {
            claims = try await verified(with: client.jwks)
        } else {
            do {
                claims = try await verified(with: try await fetchedKeys(refresh: false))
            } catch {
                // The client may have rotated its keys since the cached copy.
                claims = try await verified(with: try await fetchedKeys(refresh: true))
            }
        }
        func reject(_ reason: String) -> AuthorityError {
            AuthorityError(.invalidClient, "client assertion rejected: \(reason)")
        }
        guard let exp = NumericDate.seconds(claims.exp.value.timeIntervalSince1970) else {
            throw reject("exp is not a time this server can represent")
        }
        guard (1...Self.maxAssertionIDLength).contains(claims.jti.value.utf8.count) else {
            throw reject("jti must be 1 to \(Self.maxAssertionIDLength) bytes")
        }
        guard claims.iss.value == client.clientID, claims.sub.value == client.clientID else {
            throw reject("iss and sub must both be the client_id")
        }
        guard claims.aud.value.contains(where: { $0 == issuer || $0 == tokenEndpoint || $0 == issuer + "/" }) else {
            throw reject("aud must be the issuer or the token endpoint")
        }
        guard exp > now else { throw reject("it has expired") }
        guard exp <= now + Self.maxAssertionLifetime else {
            throw reject("exp may be at most \(Self.maxAssertionLifetime) seconds ahead")
        }
        let key = client.clientID + " " + claims.jti.value
        try await write { txn in
            if let used = try txn.get(Keyspace.usedAssertions, key), used.expiresAt > now {
                throw AuthorityError(.invalidClient, "client assertion rejected: jti already used")
            }
            var record = Authsec_Store_V1_AssertionRecord()
            record.expiresAt = exp
            try txn.put(Keyspace.usedAssertions, key, record)
        }
        return client
    }

    /// How far ahead a client assertion's `exp` may be (RFC 7523 §3 lets the server bound it).
    static let maxAssertionLifetime: Int64 = 300
    /// The longest `jti` remembered for replay detection; it is part of a store key.
    static let maxAssertionIDLength = 255

    // MARK: - Token endpoint

    /// The token endpoint (RFC 6749 §3.2): client credentials (§4.4), authorization code (§4.1.3)
    /// and refresh (§6). Ready for client credentials unless the client authenticates with an
    /// assertion; pending for the grants that write.
    public func token(_ request: TokenRequest, context: CallContext = .inProcess) -> Answer<TokenGrant> {
        .deciding {
            try checkGrantParameter(request)
            let client = authenticate(request.credentials, context: context)
            if let ready = client.readyResult { return grant(request, to: try ready.get(), context: context) }
            return client.then { client in self.grant(request, to: client, context: context) }
        }
    }

    private func checkGrantParameter(_ request: TokenRequest) throws {
        guard !request.grantType.isEmpty else {
            throw AuthorityError(.invalidRequest, "grant_type is required")
        }
    }

    private func grant(_ request: TokenRequest, to client: Client, context: CallContext) -> Answer<TokenGrant> {
        do {
            guard let grant = GrantType(spelling: request.grantType) else {
                throw AuthorityError(.unsupportedGrantType, "grant_type '\(request.grantType)' is not supported")
            }
            guard client.grantTypes.contains(grant) else {
                throw AuthorityError(.unauthorizedClient, "client is not allowed the \(grant.rawValue) grant")
            }
            switch grant {
            case .clientCredentials:
                let issued = try issueClientCredentials(client, scope: request.scope, audiences: request.audiences)
                noteIssued(to: client, context: context)
                return .ready(.success(issued))
            case .tokenExchange:
                let issued = try exchangeToken(request, client: client)
                noteIssued(to: client, context: context)
                return .ready(.success(issued))
            case .authorizationCode, .refreshToken, .deviceCode, .jwtBearer:
                return .pending {
                    do {
                        let issued =
                            switch grant {
                            case .authorizationCode:
                                try await self.redeemCode(request, client: client, context: context)
                            case .refreshToken: try await self.refresh(request, client: client, context: context)
                            case .jwtBearer: try await self.redeemIdentityAssertion(request, client: client)
                            default: try await self.redeemDeviceCode(request, client: client, context: context)
                            }
                        self.noteIssued(to: client, context: context)
                        return issued
                    } catch {
                        self.noteRefused(error, client: client, context: context)
                        throw error
                    }
                }
            }
        } catch {
            noteRefused(error, client: client, context: context)
            return .ready(.failure(error))
        }
    }

    private func noteIssued(to client: Client, context: CallContext) {
        auditCount(
            .tokenIssue, actor: client.clientID, clientID: client.clientID, context: context,
            usage: { $0.tokensIssued += 1 })
    }

    private func noteRefused(_ error: any Error, client: Client, context: CallContext) {
        guard let error = error as? AuthorityError else { return }
        auditCount(
            .tokenIssue, outcome: error.code.rawValue, actor: client.clientID, clientID: client.clientID,
            context: context)
    }

    /// RFC 6749 §4.4. No store write: the token is a self-contained signed JWT (RFC 9068).
    ///
    /// The only grant that issues reserved scopes (`Scopes.reserved`); a grant made for a person
    /// must leave them out.
    func issueClientCredentials(_ client: Client, scope: String?, audiences: [String]) throws -> TokenGrant {
        guard client.isConfidential else {
            throw AuthorityError(.unauthorizedClient, "public clients cannot use client_credentials")
        }
        // Management scopes go only into tokens whose sole audience is the management audience,
        // so a resource server given a token can never replay it at the management door.
        let isForManagement = audiences.contains(Scopes.managementAudience)
        if isForManagement {
            guard audiences.allSatisfy({ $0 == Scopes.managementAudience }) else {
                throw AuthorityError(
                    .invalidTarget, "audience '\(Scopes.managementAudience)' cannot be combined with other audiences")
            }
            // A resource server may have one to read its own settings (`authorizeClientRead`).
            guard
                client.allowedScopes.contains(where: Scopes.management.contains) || !client.resourceIdentifiers.isEmpty
            else {
                throw AuthorityError(
                    .invalidTarget, "audience '\(Scopes.managementAudience)' is not allowed for this client")
            }
        } else {
            for audience in audiences where !client.allowedAudiences.contains(audience) {
                throw AuthorityError(.invalidTarget, "audience '\(audience)' is not allowed for this client")
            }
        }
        // Requested scopes must all be allowed and still exist; none requested grants every
        // allowed scope that still exists (a deleted scope is never granted).
        var requested: [String]?
        if let scope, !scope.isEmpty {
            guard let parsed = Scopes.parse(scope) else { throw AuthorityError(.invalidScope, "scope is malformed") }
            for name in parsed where !client.allowedScopes.contains(name) {
                throw AuthorityError(.invalidScope, "scope '\(name)' is not allowed for this client")
            }
            requested = parsed
        }
        let isForResource = !audiences.isEmpty && !isForManagement
        if isForResource, let management = requested?.first(where: Scopes.management.contains) {
            throw AuthorityError(
                .invalidScope, "scope '\(management)' is issued only for audience '\(Scopes.managementAudience)'")
        }
        var candidates = requested ?? client.allowedScopes
        if isForResource { candidates.removeAll(where: Scopes.management.contains) }
        let granted = try existingScopes(candidates)
        if let requested, granted.count != requested.count,
            let missing = requested.first(where: { !granted.contains($0) })
        {
            throw AuthorityError(.invalidScope, "scope '\(missing)' does not exist")
        }
        let audience: [String]
        if isForManagement || (audiences.isEmpty && granted.contains(where: Scopes.management.contains)) {
            audience = [Scopes.managementAudience]
        } else {
            audience = audiences.isEmpty ? [issuer] : audiences.uniqued()
        }
        let now = clock.now()
        let claims = AccessTokenClaims(
            iss: issuer, sub: client.clientID, aud: audience,
            exp: now + client.accessTokenLifetime, iat: now, jti: Secrets.tokenID(), clientID: client.clientID,
            scope: granted.joined(separator: " "),
            agent: client.agentConfig.claimsInToken ? client.agentClaims : nil)
        return TokenGrant(
            accessToken: try signAccessToken(claims, now: now), expiresIn: client.accessTokenLifetime,
            scope: claims.scope)
    }

    /// `claims` signed with the ES256 key active at `now`.
    func signAccessToken(_ claims: AccessTokenClaims, now: Int64) throws -> String {
        guard let key = keyRing.withLock({ $0.signer(at: now) }) else {
            throw AuthorityError(.serverError, "no signing key is active", detail: "key ring has no signer")
        }
        return try AccessTokenCodec.sign(claims, with: key)
    }

    /// `names` without those no longer registered; reads the store only after a scope change.
    func existingScopes(_ names: [String]) throws -> [String] {
        guard names.contains(where: { !ClientValidator.oidcScopes.contains($0) }) else { return names }
        let registered = try caches.registeredScopes { Set(try listScopes().map(\.name)) }
        return names.filter { ClientValidator.oidcScopes.contains($0) || registered.contains($0) }
    }

    // MARK: - Verification, introspection, revocation

    /// The claims of `token` if it is one of ours, unexpired and not revoked; else nil.
    ///
    /// The signature is verified once per token (then cached); expiry and revocation every time.
    public func verifyAccessToken(_ token: String) throws -> AccessTokenClaims? {
        let now = clock.now()
        let claims: AccessTokenClaims
        let digest = TokenDigest(token)
        if let cached = caches.verified(digest) {
            claims = cached
        } else {
            let generation = caches.keyGeneration
            let ring = keyRing.withLock { $0 }
            guard let verified = try? AccessTokenCodec.verify(token, keys: ring, issuer: issuer, now: now) else {
                return nil
            }
            caches.remember(digest, verified, generation: generation)
            claims = verified
        }
        guard now < claims.exp else { return nil }
        // Only what the lookups need goes into the closure: capturing the claims would copy (and
        // retain) every field of them, on the hottest path there is.
        let jti = claims.jti
        let grantID = claims.grantID.map(String.init)
        let clientID = deletedClientRecords.load(ordering: .acquiring) > 0 ? claims.clientID : nil
        // A deleted client's tokens end with it (its record stays until they would have expired).
        let isRefused = try read { txn in
            try txn.contains(Keyspace.revokedTokens, jti)
                || (grantID != nil && txn.contains(Keyspace.revokedTokens, grantID!))
                || (clientID != nil && txn.contains(Keyspace.deletedClients, clientID!))
        }
        return isRefused ? nil : claims
    }

    /// RFC 7662, with the policy of §4: a caller learns a token is active, and its claims, only
    /// when the token was issued to the caller, names one of the caller's resources in `aud`, or
    /// the caller holds `authsec:introspect`. Any other token is just inactive to it.
    public func introspect(token: String, credentials: ClientCredentials, context: CallContext = .inProcess)
        -> Answer<Introspection>
    {
        let caller = authenticate(credentials, context: context)
        if let ready = caller.readyResult {
            return .ready(Result { try introspect(token: token, caller: try ready.get()) })
        }
        return caller.map { try self.introspect(token: token, caller: $0) }
    }

    private func introspect(token: String, caller: Client) throws -> Introspection {
        try requireToken(token)
        guard caller.isConfidential else {
            throw AuthorityError(.unauthorizedClient, "public clients may not introspect tokens")
        }
        activity.addUsage(caller.clientID, now: clock.now()) { $0.introspections += 1 }
        guard let claims = try verifyAccessToken(token), mayIntrospect(claims, by: caller) else {
            return Introspection(claims: nil)
        }
        // A client introspecting its own token is the token's client: no lookup.
        let agent =
            claims.clientID == caller.clientID
            ? caller.agentClaims
            : try registeredClient(claims.clientID).flatMap(\.agentClaims)
        return Introspection(claims: claims, agent: agent)
    }

    /// RFC 7662 §4: whether `caller` may learn of the token `claims` describe (and charge it).
    func mayIntrospect(_ claims: AccessTokenClaims, by caller: Client) -> Bool {
        claims.clientID == caller.clientID || caller.allowedScopes.contains(Scopes.introspectAny)
            || caller.isResourceServer(for: claims.aud)
    }

    /// RFC 7009: a client may revoke its own tokens; a client allowed `admin:clients` any.
    /// Unknown or already invalid tokens succeed silently (§2.2), and at once; a revocation is
    /// pending until it is durable.
    public func revoke(
        token: String, tokenTypeHint: String?, credentials: ClientCredentials, context: CallContext = .inProcess
    ) -> Answer<Void> {
        authenticate(credentials, context: context).then { caller in
            try self.requireToken(token)
            let hint = tokenTypeHint ?? ""
            if !hint.isEmpty, hint != "access_token", hint != "refresh_token" {
                throw AuthorityError(.unsupportedTokenType, "token_type_hint '\(hint)' is not supported")
            }
            guard let claims = try self.verifyAccessToken(token) else {
                // RFC 7009 §2.1: revoking a refresh token revokes its grant, access tokens included.
                guard let grantID = try self.revocableGrant(refreshToken: token, by: caller) else {
                    return .ready(.success(()))
                }
                return .pending {
                    let now = self.clock.now()
                    try await self.write { txn in try self.revokeGrant(grantID, in: txn, now: now) }
                    self.auditCount(.tokenRevoke, actor: caller.clientID, clientID: caller.clientID, context: context)
                }
            }
            guard claims.clientID == caller.clientID || caller.allowedScopes.contains(Scopes.adminClients) else {
                throw AuthorityError(.unauthorizedClient, "the token was issued to another client")
            }
            return .pending {
                try await self.write { txn in
                    var record = Authsec_Store_V1_RevokedTokenRecord()
                    record.expiresAt = claims.exp
                    record.clientID = claims.clientID
                    try txn.put(Keyspace.revokedTokens, claims.jti, record)
                }
                self.auditCount(.tokenRevoke, actor: caller.clientID, clientID: claims.clientID, context: context)
            }
        }
    }

    /// RFC 7662 §2.1 and RFC 7009 §2.1: the `token` parameter is required, through either door.
    func requireToken(_ token: String) throws {
        guard !token.isEmpty else { throw AuthorityError(.invalidRequest, "token is required") }
    }
}

/// Just enough JSON to read one claim before verification.
enum JSONValue: Decodable {
    case string(String)
    case other

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) { self = .string(text) } else { self = .other }
    }
}
