import Store

/// A management caller, checked against its client's current state.
public struct AdminCaller: Sendable, Equatable {
    public let clientID: String
    /// The reserved scopes the caller holds: those its token carries that its client is still
    /// allowed. It may give only these to a client, and may change only clients whose reserved
    /// scopes are all among them.
    public let reservedScopes: Set<String>
    /// The request this caller made, for the audit log.
    public let context: CallContext

    /// A call made inside the process (tests, maintenance), for operations that check no scope
    /// of the caller's: it holds no reserved scope.
    public static let inProcess = AdminCaller(clientID: "", reservedScopes: [])

    public init(clientID: String, reservedScopes: Set<String>, context: CallContext = .inProcess) {
        self.clientID = clientID
        self.reservedScopes = reservedScopes
        self.context = context
    }

    /// Refuses a client holding (or to be given) a reserved scope the caller does not hold.
    func requireHolds(_ scopes: [String], of clientID: String, _ verb: String) throws {
        guard let missing = scopes.first(where: { Scopes.reserved.contains($0) && !reservedScopes.contains($0) }) else {
            return
        }
        throw AuthorityError(
            .accessDenied,
            "cannot \(verb) client \(clientID): it would hold \(missing), which the caller does not hold")
    }
}

extension Authority {
    /// Checks a management call's access token (RFC 6750 §3.1 error codes): ours, unexpired, not
    /// revoked, for the management audience alone, carrying `scope`; and its client still exists
    /// and is still allowed `scope`, so a removed scope or a deleted client ends its tokens at once.
    public func authorizeAdmin(token: String, scope: String, context: CallContext = .inProcess) throws -> AdminCaller {
        do {
            return try authorizeAdminOnce(token: token, scope: scope, context: context)
        } catch let error as AuthorityError {
            // Its client, when the token is valid but not enough (verified and cached by now); an
            // invalid token is not verified twice.
            let actor = error.code == .invalidToken ? "" : (try? verifyAccessToken(token))?.clientID ?? ""
            auditCount(.adminAuthorize, outcome: error.code.rawValue, actor: actor, clientID: actor, context: context)
            throw error
        }
    }

    /// Authorizes reading client `clientID`: with `admin:clients`, or by the client itself (a
    /// management token of its own, no scope needed), so that a resource server such as an MCP
    /// server can read its own settings (`security`, `protocol_version`, …) with its credentials.
    public func authorizeClientRead(token: String, clientID: String, context: CallContext = .inProcess) throws
        -> AdminCaller
    {
        if let claims = try? verifyAccessToken(token), claims.clientID == clientID,
            claims.aud == [Scopes.managementAudience], let client = try registeredClient(clientID), !client.isDisabled
        {
            return AdminCaller(clientID: clientID, reservedScopes: [], context: context)
        }
        return try authorizeAdmin(token: token, scope: Scopes.adminClients, context: context)
    }

    private func authorizeAdminOnce(token: String, scope: String, context: CallContext) throws -> AdminCaller {
        guard !token.isEmpty else {
            throw AuthorityError(.invalidToken, "a Bearer access token is required")
        }
        guard let claims = try verifyAccessToken(token) else {
            throw AuthorityError(.invalidToken, "the access token is invalid, expired or revoked")
        }
        guard claims.aud == [Scopes.managementAudience] else {
            throw AuthorityError(
                .invalidToken, "the access token's audience must be \(Scopes.managementAudience) alone")
        }
        guard claims.grants(scope) else {
            throw AuthorityError(.insufficientScope, "the access token lacks scope \(scope)")
        }
        guard let record = try registeredClient(claims.clientID) else {
            throw AuthorityError(.invalidToken, "the access token's client no longer exists")
        }
        guard !record.isDisabled else {
            throw AuthorityError(.invalidToken, "the access token's client is disabled")
        }
        guard record.allowedScopes.contains(scope) else {
            throw AuthorityError(.insufficientScope, "the access token's client is no longer allowed scope \(scope)")
        }
        let holds = { (reserved: String) in claims.grants(reserved) && record.allowedScopes.contains(reserved) }
        // The usual admin holds every reserved scope: share the one set rather than build another.
        let held = Scopes.reserved.allSatisfy(holds) ? Scopes.reserved : Scopes.reserved.filter(holds)
        return AdminCaller(clientID: claims.clientID, reservedScopes: held, context: context)
    }
}

extension Authority {
    /// The registered client `clientID`, through the client cache (a client change empties it),
    /// or a client known by its metadata document that was loaded (`loadClientDocument`).
    public func registeredClient(_ clientID: String) throws -> Client? {
        if let cached = caches.client(clientID) { return cached }
        if let fromDocument = documentClient(clientID) { return fromDocument }
        let generation = caches.generation
        guard let record = try read({ try $0.get(Keyspace.clients, clientID) }) else { return nil }
        let client = Client(record: record)
        caches.remember(client, generation: generation)
        return client
    }
}
