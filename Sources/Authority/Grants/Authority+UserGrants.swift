import Crypto
import Foundation
import Store

/// What a grant made for a person holds when tokens are issued from it.
struct UserGrant: Sendable {
    var grantID: String
    var user: Authsec_Store_V1_UserRecord
    var scopes: [String]
    var audiences: [String]
    var authTime: Int64
    var sessionID: String
    var nonce: String?
    var refreshToken: String?
}

extension Authority {
    // MARK: - Authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6)

    /// Redeems a code once. A second redemption revokes everything issued from the first
    /// (RFC 6749 §4.1.2), commits that, and refuses. A code is bound to its client, its redirect
    /// URI and its PKCE challenge; sending a verifier when no challenge was made is refused, so
    /// an attacker cannot downgrade a PKCE-protected flow.
    func redeemCode(_ request: TokenRequest, client: Client, context: CallContext) async throws -> TokenGrant {
        guard let code = request.code, !code.isEmpty else { throw AuthorityError(.invalidRequest, "code is required") }
        let now = clock.now()
        let key = Secrets.storageKey(code)
        let refreshToken = client.grantTypes.contains(.refreshToken) ? Secrets.opaqueToken() : nil
        let grant = try await commitThenAnswer { txn -> Result<UserGrant, AuthorityError> in
            func refused(_ reason: String) -> Result<UserGrant, AuthorityError> {
                .failure(AuthorityError(.invalidGrant, reason))
            }
            guard var record = try txn.get(Keyspace.authorizationCodes, key), now < record.expiresAt else {
                return refused("the code is invalid or has expired")
            }
            guard record.clientID == client.clientID else { return refused("the code was issued to another client") }
            if record.redeemed {
                try self.revokeGrant(record.grantID, in: txn, now: now)
                self.auditCount(.codeReplay, actor: client.clientID, clientID: client.clientID, context: context)
                return refused("the code was already used; the tokens issued with it are revoked")
            }
            let redirect = request.redirectURI ?? ""
            if record.redirectUri.isEmpty {
                if !redirect.isEmpty, redirect != client.callbacks.first ?? "" || client.callbacks.count != 1 {
                    return refused("redirect_uri does not match the authorization request")
                }
            } else if redirect != record.redirectUri {
                return refused("redirect_uri does not match the authorization request")
            }
            if let failure = Self.pkceFailure(challenge: record.codeChallenge, verifier: request.codeVerifier) {
                return refused(failure)
            }
            // RFC 8707 §2.2: `resource` at the token endpoint may narrow what was authorized.
            if let extra = request.audiences.first(where: { !record.audience.contains($0) }) {
                return .failure(
                    AuthorityError(.invalidTarget, "resource '\(extra.prefix(200))' was not authorized for this code"))
            }
            guard let user = try txn.get(Keyspace.users, record.sub), !user.disabled else {
                return refused("the user who authorized the code can no longer sign in")
            }
            record.redeemed = true
            try txn.put(Keyspace.authorizationCodes, key, record)
            return .success(
                try self.startGrant(
                    txn,
                    UserGrant(
                        grantID: record.grantID, user: user, scopes: Scopes.parse(record.scope) ?? [],
                        audiences: request.audiences.isEmpty ? record.audience : request.audiences.uniqued(),
                        authTime: record.authTime, sessionID: record.sessionID,
                        nonce: record.nonce.isEmpty ? nil : record.nonce, refreshToken: refreshToken),
                    client: client, now: now))
        }
        return try issueUserTokens(grant, client: client, now: now, rsaKey: try await idTokenRSAKey(for: client))
    }

    /// The RS256 key for a client whose ID tokens are RS256 (`id_token_signed_response_alg`), else nil.
    func idTokenRSAKey(for client: Client) async throws -> KeyRing.RSAEntry? {
        client.idTokenSignedResponseAlg == KeyRing.rs256 ? try await rsaSigner() : nil
    }

    /// Starts a grant (a refresh-token family) for a person, with its first refresh token when
    /// there is one. Without one it is kept only while its access tokens may live, so that a
    /// code replay can still revoke them.
    func startGrant(_ txn: WriteTransaction, _ started: UserGrant, client: Client, now: Int64) throws -> UserGrant {
        var grant = Authsec_Store_V1_GrantRecord()
        grant.clientID = client.clientID
        grant.sub = started.user.sub
        grant.scope = started.scopes.joined(separator: " ")
        grant.audience = started.audiences
        grant.authTime = started.authTime
        grant.sessionID = started.sessionID
        grant.createdAt = now
        if let refreshToken = started.refreshToken {
            grant.expiresAt = now + client.refreshTokenLifetime
            grant.currentToken = Secrets.storageKey(refreshToken)
            var token = Authsec_Store_V1_RefreshTokenRecord()
            token.grantID = started.grantID
            token.expiresAt = Self.refreshTokenExpiry(
                grantExpiry: grant.expiresAt, idle: client.refreshTokenIdleLifetime, now: now)
            try txn.put(Keyspace.refreshTokens, grant.currentToken, token)
        } else {
            grant.expiresAt = now + client.accessTokenLifetime
        }
        try txn.put(Keyspace.grants, started.grantID, grant)
        return started
    }

    /// RFC 7636 §4.6, and its converse: a verifier without a challenge is a downgrade attempt.
    static func pkceFailure(challenge: String, verifier: String?) -> String? {
        let verifier = verifier ?? ""
        if challenge.isEmpty {
            return verifier.isEmpty
                ? nil : "code_verifier was sent, but the authorization request made no code_challenge"
        }
        guard !verifier.isEmpty else { return "code_verifier is required" }
        // RFC 7636 §4.1: 43 to 128 unreserved characters.
        guard (43...128).contains(verifier.utf8.count),
            verifier.utf8.allSatisfy({ Self.verifierCharacters.contains($0) })
        else { return "code_verifier must be 43 to 128 unreserved characters" }
        let computed = Array(Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8)))).utf8)
        guard Secrets.constantTimeEqual(computed, Array(challenge.utf8)) else {
            return "code_verifier does not match the code_challenge"
        }
        return nil
    }

    private static let verifierCharacters = Set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)

    // MARK: - Refresh (RFC 6749 §6, OAuth 2.1 §4.3.1)

    /// Refreshes a grant. When the client rotates (`rotate_refresh_token`, always for public
    /// clients) the token is replaced; presenting a replaced one again revokes the grant and every
    /// token issued from it, commits that, and refuses, except that within the client's
    /// `refresh_token_leeway` the immediately previous token may be used once more.
    ///
    /// Concurrent refreshes of one token are serialized by the store's single writer: the first
    /// rotates it, and the others find it replaced.
    func refresh(_ request: TokenRequest, client: Client, context: CallContext) async throws -> TokenGrant {
        guard let token = request.refreshToken, !token.isEmpty else {
            throw AuthorityError(.invalidRequest, "refresh_token is required")
        }
        let narrowed: [String]? = try request.scope.flatMap { scope in
            guard !scope.isEmpty else { return nil }
            guard let parsed = Scopes.parse(scope) else { throw AuthorityError(.invalidScope, "scope is malformed") }
            return parsed
        }
        let audiences = request.audiences
        let now = clock.now()
        let key = Secrets.storageKey(token)
        let replacement = Secrets.opaqueToken()
        let rotates = client.rotateRefreshToken || !client.isConfidential
        let leeway = client.refreshTokenLeeway
        let idle = client.refreshTokenIdleLifetime
        let grant = try await commitThenAnswer { txn -> Result<UserGrant, AuthorityError> in
            func refused(_ code: AuthorityError.Code, _ reason: String) -> Result<UserGrant, AuthorityError> {
                .failure(AuthorityError(code, reason))
            }
            func refused(_ reason: String) -> Result<UserGrant, AuthorityError> { refused(.invalidGrant, reason) }
            guard let tokenRecord = try txn.get(Keyspace.refreshTokens, key),
                var grant = try txn.get(Keyspace.grants, tokenRecord.grantID)
            else { return refused("the refresh token is invalid") }
            guard grant.clientID == client.clientID else {
                return refused("the refresh token was issued to another client")
            }
            guard !grant.revoked else { return refused("the refresh token has been revoked") }
            guard now < grant.expiresAt, now < tokenRecord.expiresAt else {
                return refused("the refresh token has expired")
            }
            let isCurrent = key == grant.currentToken
            let isWithinLeeway =
                !isCurrent && leeway > 0 && key == grant.previousToken && now - grant.rotatedAt <= leeway
            guard isCurrent || isWithinLeeway else {
                try self.revokeGrant(tokenRecord.grantID, in: txn, now: now)
                self.auditCount(.refreshReuse, actor: client.clientID, clientID: client.clientID, context: context)
                return refused("the refresh token was already used; its grant is revoked")
            }
            guard let user = try txn.get(Keyspace.users, grant.sub), !user.disabled else {
                return refused("the user of this grant can no longer sign in")
            }
            let granted = Scopes.parse(grant.scope) ?? []
            if let narrowed, let extra = narrowed.first(where: { !granted.contains($0) }) {
                return refused(.invalidScope, "scope '\(extra)' was not granted; a refresh may only narrow the scope")
            }
            if let extra = audiences.first(where: { !grant.audience.contains($0) }) {
                return refused(.invalidTarget, "resource '\(extra)' was not granted; a refresh may only narrow it")
            }
            var answered: String?
            let expiry = Self.refreshTokenExpiry(grantExpiry: grant.expiresAt, idle: idle, now: now)
            if rotates {
                if isCurrent {
                    grant.previousToken = grant.currentToken
                    grant.rotatedAt = now
                } else {
                    grant.previousToken = ""  // the leeway is used up
                }
                grant.currentToken = Secrets.storageKey(replacement)
                var record = Authsec_Store_V1_RefreshTokenRecord()
                record.grantID = tokenRecord.grantID
                record.expiresAt = expiry
                try txn.put(Keyspace.refreshTokens, grant.currentToken, record)
                try txn.put(Keyspace.grants, tokenRecord.grantID, grant)
                answered = replacement
            } else if idle > 0 {
                var record = tokenRecord
                record.expiresAt = expiry
                try txn.put(Keyspace.refreshTokens, key, record)
            }
            return .success(
                UserGrant(
                    grantID: tokenRecord.grantID, user: user, scopes: narrowed ?? granted,
                    audiences: audiences.isEmpty ? grant.audience : audiences.uniqued(), authTime: grant.authTime,
                    sessionID: grant.sessionID, nonce: nil, refreshToken: answered))
        }
        activity.addUsage(client.clientID, now: now) { $0.refreshes += 1 }
        // A scope the client lost, or that was deleted, since the grant is left out.
        var current = grant
        current.scopes = try existingScopes(grant.scopes.filter(client.allowedScopes.contains))
        // OpenID Connect Core §12.2: a refresh "might not contain an id_token"; the person did not
        // sign in again, so the one from the code exchange still says what there is to say, and
        // not signing a second JWT is a third of a refresh's cost.
        return try issueUserTokens(current, client: client, now: now, withIDToken: false)
    }

    /// A refresh token lives until the grant's absolute expiry, or `idle` seconds unused (0: no idle limit).
    static func refreshTokenExpiry(grantExpiry: Int64, idle: Int64, now: Int64) -> Int64 {
        idle > 0 ? min(grantExpiry, now + idle) : grantExpiry
    }

    // MARK: - Revocation

    /// Revokes a grant: its refresh tokens stop working, and its access tokens (whose jti starts
    /// with the grant id) are refused until the longest one could have expired.
    func revokeGrant(_ grantID: String, in txn: WriteTransaction, now: Int64) throws {
        var clientID = ""
        if var grant = try txn.get(Keyspace.grants, grantID) {
            clientID = grant.clientID
            if !grant.revoked {
                grant.revoked = true
                grant.expiresAt = max(grant.expiresAt, now + Client.maxAccessTokenLifetime)
                try txn.put(Keyspace.grants, grantID, grant)
            }
        }
        var record = Authsec_Store_V1_RevokedTokenRecord()
        record.expiresAt = now + Client.maxAccessTokenLifetime
        record.clientID = clientID
        try txn.put(Keyspace.revokedTokens, grantID, record)
    }

    /// The grant a refresh token belongs to, when it is still live and `caller` may revoke it.
    func revocableGrant(refreshToken token: String, by caller: Client) throws -> String? {
        guard (1...256).contains(token.utf8.count) else { return nil }
        return try read { txn in
            guard let record = try txn.get(Keyspace.refreshTokens, Secrets.storageKey(token)),
                let grant = try txn.get(Keyspace.grants, record.grantID), !grant.revoked
            else { return nil }
            guard grant.clientID == caller.clientID || caller.allowedScopes.contains(Scopes.adminClients) else {
                throw AuthorityError(.unauthorizedClient, "the token was issued to another client")
            }
            return record.grantID
        }
    }

    // MARK: - Tokens for a person

    /// The access token (RFC 9068: `sub` the user, `client_id` the client), and an ID token when
    /// `openid` was granted and `withIDToken` (not on a refresh). No admin scope can be among
    /// `grant.scopes` (`checkedUserScopes`).
    func issueUserTokens(
        _ grant: UserGrant, client: Client, now: Int64, withIDToken: Bool = true, rsaKey: KeyRing.RSAEntry? = nil
    ) throws -> TokenGrant {
        guard let key = keyRing.withLock({ $0.signer(at: now) }) else {
            throw AuthorityError(.serverError, "no signing key is active", detail: "key ring has no signer")
        }
        let claims = AccessTokenClaims(
            iss: issuer, sub: grant.user.sub, aud: grant.audiences, exp: now + client.accessTokenLifetime, iat: now,
            jti: grant.grantID + "." + Secrets.tokenID(), clientID: client.clientID,
            scope: grant.scopes.joined(separator: " "))
        let accessToken = try AccessTokenCodec.sign(claims, with: key)
        var issued = TokenGrant(accessToken: accessToken, expiresIn: client.accessTokenLifetime, scope: claims.scope)
        issued.refreshToken = grant.refreshToken
        if withIDToken, grant.scopes.contains("openid") {
            let idClaims = IDTokenClaims(
                issuer: issuer, user: grant.user, clientID: client.clientID, issuedAt: now,
                expiresAt: now + client.idTokenLifetime, authTime: grant.authTime, nonce: grant.nonce,
                accessToken: accessToken, sessionID: grant.sessionID, scopes: grant.scopes)
            issued.idToken = try IDTokenCodec.sign(idClaims, with: rsaKey.map { .rs256($0) } ?? .es256(key))
        }
        return issued
    }
}

extension AccessTokenClaims {
    /// The grant a person's access token was issued from (its jti is `grant id` `.` random), or nil
    /// for a client's own token.
    var grantID: Substring? {
        guard jti.hasPrefix("g_"), let dot = jti.firstIndex(of: ".") else { return nil }
        return jti[..<dot]
    }
}
