import Foundation
import Store

/// A browser in which a user has signed in: what the session cookie stands for.
public struct BrowserSession: Sendable, Equatable {
    public let sub: String
    /// The session's public id (OpenID `sid`); the cookie itself is secret and stored only hashed.
    public let sessionID: String
    /// When the user signed in (OpenID `auth_time`).
    public let authTime: Int64
    public let expiresAt: Int64

    init(record: Authsec_Store_V1_SessionRecord) {
        sub = record.sub
        sessionID = record.sessionID
        authTime = record.authTime
        expiresAt = record.expiresAt
    }
}

extension Authority {
    /// How long a browser stays signed in: 24 hours.
    public static let sessionLifetime: Int64 = 86_400

    /// Signs a user in with a password and opens a browser session; answers the session cookie
    /// (shown to the browser once, stored only hashed).
    ///
    /// Throttled per username and per client address (RFC 6749 §10.10): a locked key gets the same
    /// `invalidCredentials` as a wrong password, so the answer never says whether a user exists.
    public func signIn(username: String, password: String, context: CallContext) async throws -> (
        cookie: String, session: BrowserSession
    ) {
        let now = clock.now()
        let userKey = "user " + UserRules.indexKey(String(username.prefix(UserRules.maxUsernameLength)))
        let addressKey = "address " + context.peer
        guard loginThrottle.wait(userKey, now: now) == 0, loginThrottle.wait(addressKey, now: now) == 0 else {
            auditCount(
                .userSignIn, outcome: "throttled", actor: String(username.prefix(64)), clientID: "", context: context)
            throw AuthorityError.invalidCredentials
        }
        let user: User
        do {
            user = try await verifyPassword(username: username, password: password)
        } catch let error as AuthorityError where error.code == AuthorityError.invalidCredentials.code {
            loginThrottle.recordFailure(userKey, policy: LoginThrottle.perUser, now: now)
            if !context.peer.isEmpty {
                loginThrottle.recordFailure(addressKey, policy: LoginThrottle.perAddress, now: now)
            }
            auditCount(
                .userSignIn, outcome: error.code.rawValue, actor: String(username.prefix(64)), clientID: "",
                context: context)
            throw error
        }
        loginThrottle.recordSuccess(userKey)
        let cookie = Secrets.opaqueToken()
        var record = Authsec_Store_V1_SessionRecord()
        record.sub = user.sub
        record.sessionID = Secrets.tokenID()
        record.authTime = clock.now()
        record.expiresAt = record.authTime + Self.sessionLifetime
        let stored = record
        try await write { txn in
            try txn.put(Keyspace.sessions, Secrets.storageKey(cookie), stored)
        }
        auditCount(.userSignIn, actor: user.sub, clientID: "", context: context)
        return (cookie, BrowserSession(record: record))
    }

    /// The live session of a session cookie: unexpired, its user still present and enabled.
    public func session(cookie: String?) throws -> BrowserSession? {
        guard let cookie, (1...128).contains(cookie.utf8.count) else { return nil }
        let now = clock.now()
        return try read { txn in
            guard let record = try txn.get(Keyspace.sessions, Secrets.storageKey(cookie)), now < record.expiresAt,
                let user = try txn.get(Keyspace.users, record.sub), !user.disabled
            else { return nil }
            return BrowserSession(record: record)
        }
    }

    /// Ends the session of a session cookie; answers it, if it was live.
    public func signOut(cookie: String?) async throws -> BrowserSession? {
        guard let session = try session(cookie: cookie), let cookie else { return nil }
        try await write { txn in
            _ = try txn.delete(Keyspace.sessions, Secrets.storageKey(cookie))
        }
        return session
    }
}

/// The claims `/userinfo` answers (OpenID Connect Core §5.3), by the scopes of the access token.
public struct UserInfo: Sendable, Equatable {
    public let sub: String
    /// With `profile`.
    public let preferredUsername: String?
    public let name: String?
    public let updatedAt: Int64?
    /// With `email`.
    public let email: String?
}

extension Authority {
    /// The user an access token was issued for, as much as its scopes let the client see.
    /// - Throws: `invalid_token` for a token that is not active or not a person's;
    ///   `insufficient_scope` without `openid`.
    public func userInfo(accessToken: String) throws -> UserInfo {
        guard let claims = try verifyAccessToken(accessToken), claims.grantID != nil else {
            throw AuthorityError(.invalidToken, "the access token is not active, or was not issued for a user")
        }
        guard claims.grants("openid") else {
            throw AuthorityError(.insufficientScope, "the access token does not hold the openid scope")
        }
        guard let user = try read({ try $0.get(Keyspace.users, claims.sub) }), !user.disabled else {
            throw AuthorityError(.invalidToken, "the user of this access token can no longer sign in")
        }
        let profile = claims.grants("profile")
        let email = claims.grants("email") && !user.email.isEmpty
        return UserInfo(
            sub: user.sub, preferredUsername: profile ? user.username : nil,
            name: profile && !user.name.isEmpty ? user.name : nil, updatedAt: profile ? user.updatedAt : nil,
            email: email ? user.email : nil)
    }
}

extension Authority {
    /// OpenID RP-Initiated Logout 1.0: ends the browser's session and answers where to send it,
    /// if anywhere. A `post_logout_redirect_uri` must be one of the `logout_urls` of the client
    /// named by `client_id` or by the `id_token_hint`; anything else is refused before the
    /// session ends, and never redirected to.
    /// - Throws: `invalid_request` for a bad hint, an unknown client or an unregistered URI.
    public func endSession(
        cookie: String?, idTokenHint: String?, clientID: String?, postLogoutRedirectURI: String?, state: String?
    ) async throws -> String? {
        var client: String? = clientID
        if let idTokenHint {
            let keys = keyRing.withLock { $0 }
            guard let hint = IDTokenCodec.hint(idTokenHint, keys: keys, now: clock.now()) else {
                throw AuthorityError(.invalidRequest, "id_token_hint is not an ID token issued here")
            }
            if let clientID, clientID != hint.clientID {
                throw AuthorityError(.invalidRequest, "client_id does not match the id_token_hint")
            }
            client = hint.clientID
        }
        var redirect: String?
        if let uri = postLogoutRedirectURI {
            guard let client else {
                throw AuthorityError(
                    .invalidRequest, "post_logout_redirect_uri needs client_id or id_token_hint to name the client")
            }
            guard (1...255).contains(client.utf8.count), let registered = try registeredClient(client),
                registered.logoutUrls.contains(uri)
            else {
                throw AuthorityError(.invalidRequest, "post_logout_redirect_uri is not registered for this client")
            }
            redirect = AuthorizationResponse.url(uri, [("state", state)])
        }
        _ = try await signOut(cookie: cookie)
        return redirect
    }
}
