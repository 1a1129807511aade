import Authority
import ClientModel
import Logging
import SwiftProtobuf
import Wire

/// Answers binary-protocol requests by calling Authority: the wire door's whole adapter.
public struct WireService: Sendable {
    let authority: Authority
    let logger: Logger
    let version: String

    public init(authority: Authority, logger: Logger, version: String) {
        self.authority = authority
        self.logger = logger
        self.version = version
    }

    /// The response to one request, now or after suspending; errors become a `Status`.
    ///
    /// Token, introspection and revocation calls are decided inline when they need neither a
    /// durable write nor a fetch; management calls read or write the store and always suspend.
    func answer(_ request: Authsec_V1_Request, context: CallContext) -> Settled<Authsec_V1_Response> {
        let id = request.id
        func reply<Value>(
            _ answer: Answer<Value>, _ fill: @escaping @Sendable (inout Authsec_V1_Response, Value) -> Void
        )
            -> Settled<Authsec_V1_Response>
        {
            @Sendable func filled(_ value: Value) -> Authsec_V1_Response {
                var response = Authsec_V1_Response()
                response.id = id
                fill(&response, value)
                return response
            }
            // A ready answer is written without forming the closures a pending one needs: each
            // would allocate and retain this service (and so the authority) from every event loop.
            switch answer.readyResult {
            case .success(let value)?: return .now(filled(value))
            case .failure(let error)?: return .now(response(for: error, id: id))
            case nil: return answer.settled(filled, failure: { self.response(for: $0, id: id) })
            }
        }
        do {
            switch request.call {
            case .token(let call):
                let answer = authority.token(Self.tokenRequest(call, try credentials(request, call)), context: context)
                return reply(answer) { $0.token = Self.tokenResponse($1) }
            case .introspect(let call):
                let answer = authority.introspect(
                    token: call.token, credentials: try credentials(request, call), context: context)
                return reply(answer) { $0.introspect = Self.introspectResponse($1) }
            case .revoke(let call):
                let answer = authority.revoke(
                    token: call.token, tokenTypeHint: call.tokenTypeHint, credentials: try credentials(request, call),
                    context: context)
                return reply(answer) { response, _ in response.revoke = Authsec_V1_RevokeResponse() }
            case .charge(let call):
                let caller = try authority.authenticateBearer(
                    Self.bearerToken(request.authorization) ?? "", context: context)
                let charge = try authority.charge(token: call.token, amount: call.amount, by: caller, context: context)
                var response = Authsec_V1_Response()
                response.id = id
                response.charge = Self.chargeResponse(charge)
                if !charge.allowed, call.failWhenExhausted {
                    response.status = Self.status(
                        AuthorityError(.quotaExhausted, "the agent's daily budget of model tokens is spent"))
                }
                return .now(response)
            default:
                return .later { await self.manage(request, context: context) }
            }
        } catch {
            return .now(response(for: error, id: id))
        }
    }

    /// A management or server-info call.
    private func manage(_ request: Authsec_V1_Request, context: CallContext) async -> Authsec_V1_Response {
        var response = Authsec_V1_Response()
        response.id = request.id
        do {
            try await dispatch(request, context: context, into: &response)
        } catch {
            return self.response(for: error, id: request.id)
        }
        return response
    }

    private func response(for error: Error, id: UInt64) -> Authsec_V1_Response {
        var response = Authsec_V1_Response()
        response.id = id
        if let error = error as? AuthorityError {
            if error.code == .serverError || error.code == .storageFull {
                logger.error(
                    "wire request failed",
                    metadata: ["code": "\(error.code.rawValue)", "detail": "\(error.detail ?? "")"])
            }
            response.status = Self.status(error)
        } else {
            logger.error("wire request failed", metadata: ["error": "\(error)"])
            response.status = Self.status(AuthorityError(.serverError, "internal error"))
        }
        return response
    }

    static func tokenRequest(_ call: Authsec_V1_TokenRequest, _ credentials: ClientCredentials) -> TokenRequest {
        TokenRequest(
            grantType: call.grantType, scope: call.scope.isEmpty ? nil : call.scope, audiences: call.audience,
            credentials: credentials, code: call.code.isEmpty ? nil : call.code,
            redirectURI: call.redirectUri.isEmpty ? nil : call.redirectUri,
            codeVerifier: call.codeVerifier.isEmpty ? nil : call.codeVerifier,
            refreshToken: call.refreshToken.isEmpty ? nil : call.refreshToken,
            deviceCode: call.deviceCode.isEmpty ? nil : call.deviceCode,
            subjectToken: call.subjectToken.isEmpty ? nil : call.subjectToken,
            subjectTokenType: call.subjectTokenType.isEmpty ? nil : call.subjectTokenType,
            actorToken: call.actorToken.isEmpty ? nil : call.actorToken,
            actorTokenType: call.actorTokenType.isEmpty ? nil : call.actorTokenType,
            requestedTokenType: call.requestedTokenType.isEmpty ? nil : call.requestedTokenType,
            assertion: call.assertion.isEmpty ? nil : call.assertion)
    }

    static func tokenResponse(_ grant: TokenGrant) -> Authsec_V1_TokenResponse {
        var result = Authsec_V1_TokenResponse()
        result.accessToken = grant.accessToken
        result.tokenType = grant.tokenType
        result.expiresIn = grant.expiresIn
        result.scope = grant.scope
        if let refreshToken = grant.refreshToken { result.refreshToken = refreshToken }
        if let idToken = grant.idToken { result.idToken = idToken }
        if let issued = grant.issuedTokenType { result.issuedTokenType = issued }
        return result
    }

    static func chargeResponse(_ charge: QuotaCharge) -> Authsec_V1_ChargeResponse {
        var result = Authsec_V1_ChargeResponse()
        result.allowed = charge.allowed
        if let remaining = charge.remaining { result.remaining = remaining }
        result.resetsAt = charge.resetsAt
        return result
    }

    static func introspectResponse(_ answer: Introspection) -> Authsec_V1_IntrospectResponse {
        var result = Authsec_V1_IntrospectResponse()
        if let claims = answer.claims {
            result.active = true
            result.scope = claims.scope
            result.clientID = claims.clientID
            result.sub = claims.sub
            result.aud = claims.aud
            result.iss = claims.iss
            result.exp = claims.exp
            result.iat = claims.iat
            result.jti = claims.jti
            result.tokenType = "Bearer"
            result.actors = claims.actors
            if let agent = answer.agent {
                result.agentType = agent.agentType
                result.agentCapabilities = agent.capabilities
                result.agentContextRetention = agent.contextRetention
                result.agentMaxContextSize = agent.maxContextSize
            }
        }
        return result
    }

    static func status(_ error: AuthorityError) -> Authsec_V1_Status {
        var status = Authsec_V1_Status()
        status.code = error.code.wireStatus
        status.error = error.code.rawValue
        status.message = error.description
        status.retryAfter = error.retryAfter ?? 0
        status.pollInterval = error.pollInterval ?? 0
        return status
    }

    /// A status for input the server could not even parse as a request.
    public static func status(_ code: Authsec_V1_Status.Code, error: String, message: String) -> Authsec_V1_Status {
        var status = Authsec_V1_Status()
        status.code = code
        status.error = error
        status.message = message
        return status
    }

    private func credentials(_ request: Authsec_V1_Request, _ call: some ClientAuthenticatingCall) throws
        -> ClientCredentials
    {
        try ClientCredentials.parse(
            authorization: request.authorization.isEmpty ? nil : request.authorization, clientID: call.clientID,
            clientSecret: call.clientSecret, assertionType: call.clientAssertionType, assertion: call.clientAssertion)
    }

    /// The management caller named by the envelope's `Bearer` token (RFC 6750 §2.1 syntax).
    @discardableResult
    private func admin(_ request: Authsec_V1_Request, _ scope: String, _ context: CallContext) throws -> AdminCaller {
        try authority.authorizeAdmin(
            token: Self.bearerToken(request.authorization) ?? "", scope: scope, context: context)
    }

    /// The token of a `Bearer` credential (the scheme is case-insensitive), or nil.
    static func bearerToken(_ authorization: String) -> String? {
        // Byte checks: `lowercased()` on a 600-character String costs more than the cached
        // verification that follows.
        let bytes = authorization.utf8
        guard bytes.count > 7, zip(bytes.prefix(7), "bearer ".utf8).allSatisfy({ $0 | 0x20 == $1 }) else {
            return nil
        }
        return String(Substring(bytes.dropFirst(7)))
    }

    private func dispatch(
        _ request: Authsec_V1_Request, context: CallContext, into response: inout Authsec_V1_Response
    ) async throws {
        switch request.call {
        case .token, .introspect, .revoke, .charge:
            // Answered by `answer`, never dispatched here.
            return
        case .serverInfo:
            var info = Authsec_V1_ServerInfoResponse()
            info.issuer = authority.issuer
            info.version = version
            info.tokenEndpoint = authority.tokenEndpoint
            info.jwksUri = authority.issuer + "/.well-known/jwks.json"
            info.managementAudience = Scopes.managementAudience
            response.serverInfo = info
        case .createClient(let call):
            let caller = try admin(request, Scopes.adminClients, context)
            let created = try await authority.createClient(ClientChange(call.client), by: caller)
            response.client = Self.clientResponse(created)
        case .getClient(let call):
            try authority.authorizeClientRead(
                token: Self.bearerToken(request.authorization) ?? "", clientID: call.clientID, context: context)
            var result = Authsec_V1_ClientResponse()
            result.client = Authsec_V1_Client(try authority.client(call.clientID))
            response.client = result
        case .listClients(let call):
            try admin(request, Scopes.adminClients, context)
            let page = try authority.listClients(
                pageSize: Int(call.pageSize), pageToken: call.pageToken, registeredOnly: call.registeredOnly)
            var result = Authsec_V1_ListClientsResponse()
            result.clients = page.clients.map(Authsec_V1_Client.init)
            result.nextPageToken = page.nextPageToken ?? ""
            response.clients = result
        case .updateClient(let call):
            let caller = try admin(request, Scopes.adminClients, context)
            // Without a mask every non-empty field of `client` is a change.
            let change =
                call.updateMask.isEmpty
                ? ClientChange(call.client) : try ClientChange(call.client, mask: call.updateMask)
            var result = Authsec_V1_ClientResponse()
            result.client = Authsec_V1_Client(try await authority.updateClient(call.clientID, change, by: caller))
            response.client = result
        case .deleteClient(let call):
            let caller = try admin(request, Scopes.adminClients, context)
            try await authority.deleteClient(call.clientID, by: caller)
            response.deleted = Authsec_V1_DeleteResponse()
        case .rotateClientSecret(let call):
            let caller = try admin(request, Scopes.adminClients, context)
            response.client = Self.clientResponse(
                try await authority.rotateClientSecret(call.clientID, keepPreviousFor: call.keepPreviousFor, by: caller)
            )
        case .createScope(let call):
            let caller = try admin(request, Scopes.adminScopes, context)
            var result = Authsec_V1_ScopeResponse()
            result.scope = Self.scope(
                try await authority.createScope(name: call.name, description: call.description_p, by: caller))
            response.scope = result
        case .listScopes:
            try admin(request, Scopes.adminScopes, context)
            var result = Authsec_V1_ListScopesResponse()
            result.scopes = try authority.listScopes().map(Self.scope)
            response.scopes = result
        case .deleteScope(let call):
            let caller = try admin(request, Scopes.adminScopes, context)
            try await authority.deleteScope(call.name, by: caller)
            response.deleted = Authsec_V1_DeleteResponse()
        case .getQuota(let call):
            try admin(request, Scopes.adminClients, context)
            let quota = try authority.quota(call.clientID)
            var result = Authsec_V1_QuotaResponse()
            result.clientID = quota.clientID
            result.spent = quota.spent
            if let budget = quota.budget { result.budget = budget }
            result.resetsAt = quota.resetsAt
            response.quota = result
        case .listKeys:
            try admin(request, Scopes.adminKeys, context)
            var result = Authsec_V1_ListKeysResponse()
            result.keys = authority.listKeys().map(Self.key)
            response.keys = result
        case .rotateKey(let call):
            let caller = try admin(request, Scopes.adminKeys, context)
            var result = Authsec_V1_ListKeysResponse()
            result.keys = try await authority.rotateKey(activateIn: call.activateIn, by: caller).map(Self.key)
            response.keys = result
        case .listAudit(let call):
            try admin(request, Scopes.adminClients, context)
            let page = try authority.auditEvents(
                after: call.after, since: call.since, clientID: call.clientID, type: call.type,
                pageSize: Int(call.pageSize))
            response.audit = .with {
                $0.events = page.events
                $0.nextAfter = page.nextAfter
                $0.more = page.more
            }
        case .clientHistory(let call):
            try admin(request, Scopes.adminClients, context)
            let versions = try authority.clientHistory(call.clientID)
            response.clientHistory = .with { $0.versions = versions }
        case .getUsage(let call):
            try admin(request, Scopes.adminClients, context)
            let page = try authority.usage(
                clientID: call.clientID, pageSize: Int(call.pageSize), pageToken: call.pageToken)
            response.usage = .with {
                $0.clients = page.clients.map { entry in
                    .with {
                        $0.clientID = entry.clientID
                        $0.hours = entry.hours
                    }
                }
                $0.nextPageToken = page.nextPageToken ?? ""
                $0.now = page.now
            }
        case .createUser(let call):
            let caller = try admin(request, Scopes.adminUsers, context)
            response.user = Self.userResponse(
                try await authority.createUser(
                    username: call.username, email: call.email, name: call.name, password: call.password,
                    by: caller))
        case .getUser(let call):
            try admin(request, Scopes.adminUsers, context)
            response.user = Self.userResponse(try authority.user(call.user))
        case .listUsers(let call):
            try admin(request, Scopes.adminUsers, context)
            let page = try authority.listUsers(pageSize: Int(call.pageSize), pageToken: call.pageToken)
            var result = Authsec_V1_ListUsersResponse()
            result.users = page.users.map(Self.user)
            result.nextPageToken = page.nextPageToken ?? ""
            response.users = result
        case .updateUser(let call):
            let caller = try admin(request, Scopes.adminUsers, context)
            response.user = Self.userResponse(
                try await authority.updateUser(
                    call.user, email: call.hasEmail ? call.email : nil, name: call.hasName ? call.name : nil,
                    by: caller))
        case .deleteUser(let call):
            let caller = try admin(request, Scopes.adminUsers, context)
            try await authority.deleteUser(call.user, by: caller)
            response.deleted = Authsec_V1_DeleteResponse()
        case .setUserPassword(let call):
            let caller = try admin(request, Scopes.adminUsers, context)
            response.user = Self.userResponse(
                try await authority.setUserPassword(call.user, password: call.password, by: caller))
        case .setUserDisabled(let call):
            let caller = try admin(request, Scopes.adminUsers, context)
            response.user = Self.userResponse(
                try await authority.setUserDisabled(call.user, disabled: call.disabled, by: caller))
        case .listConsents(let call):
            try admin(request, Scopes.adminUsers, context)
            let consents = try authority.consents(of: call.user)
            response.consents = .with {
                $0.consents = consents.map { consent in
                    .with {
                        $0.clientID = consent.clientID
                        $0.clientName = consent.clientName
                        $0.scopes = consent.scopes
                        $0.grantedAt = consent.grantedAt
                        $0.updatedAt = consent.updatedAt
                    }
                }
            }
        case .revokeConsent(let call):
            let caller = try admin(request, Scopes.adminUsers, context)
            try await authority.revokeConsent(of: call.user, for: call.clientID, by: caller)
            response.deleted = Authsec_V1_DeleteResponse()
        case .createRegistrationToken(let call):
            let caller = try admin(request, Scopes.adminClients, context)
            let created = try await authority.createInitialAccessToken(
                lifetime: call.ttlSeconds == 0 ? 7 * 86_400 : call.ttlSeconds, uses: call.uses, by: caller)
            response.registrationToken = .with {
                $0.info = Self.registrationToken(created.info)
                $0.token = created.token
            }
        case .listRegistrationTokens:
            try admin(request, Scopes.adminClients, context)
            response.registrationTokens = .with {
                $0.tokens = (try? authority.listInitialAccessTokens().map(Self.registrationToken)) ?? []
            }
        case .revokeRegistrationToken(let call):
            let caller = try admin(request, Scopes.adminClients, context)
            try await authority.revokeInitialAccessToken(call.id, by: caller)
            response.deleted = Authsec_V1_DeleteResponse()
        case .addTrustedIssuer(let call):
            let caller = try admin(request, Scopes.adminUsers, context)
            let added = try await authority.addTrustedIssuer(call.issuer, jwksURI: call.jwksUri, by: caller)
            response.trustedIssuer = .with { $0.issuer = Self.trustedIssuer(added) }
        case .listTrustedIssuers:
            try admin(request, Scopes.adminUsers, context)
            response.trustedIssuers = .with {
                $0.issuers = (try? authority.listTrustedIssuers().map(Self.trustedIssuer)) ?? []
            }
        case .removeTrustedIssuer(let call):
            let caller = try admin(request, Scopes.adminUsers, context)
            try await authority.removeTrustedIssuer(call.issuer, by: caller)
            response.deleted = Authsec_V1_DeleteResponse()
        case nil:
            let fields =
                request.unknownFields.data.isEmpty ? "no call was set" : "the call is not one this server knows"
            response.status = Self.status(
                .unimplemented, error: "unsupported_call", message: "request has no known call: \(fields)")
        }
    }

    static func clientResponse(_ created: ClientWithSecret) -> Authsec_V1_ClientResponse {
        var result = Authsec_V1_ClientResponse()
        result.client = Authsec_V1_Client(created.client)
        result.clientSecret = created.secret ?? ""
        result.previousSecretExpiresAt = created.previousSecretExpiresAt ?? 0
        return result
    }

    static func trustedIssuer(_ trusted: TrustedIssuer) -> Authsec_V1_TrustedIssuer {
        .with {
            $0.issuer = trusted.issuer
            $0.jwksUri = trusted.jwksURI
            $0.createdAt = trusted.createdAt
            $0.createdBy = trusted.createdBy
        }
    }

    static func registrationToken(_ token: InitialAccessToken) -> Authsec_V1_RegistrationToken {
        .with {
            $0.id = token.id
            $0.createdAt = token.createdAt
            $0.expiresAt = token.expiresAt
            $0.usesLeft = token.usesLeft
            $0.createdBy = token.createdBy
        }
    }

    static func scope(_ scope: Scope) -> Authsec_V1_Scope {
        var result = Authsec_V1_Scope()
        result.name = scope.name
        result.description_p = scope.description
        result.createdAt = scope.createdAt
        return result
    }

    /// A user as the wire shows one: never a password or its hash (`User` holds neither).
    static func user(_ user: User) -> Authsec_V1_User {
        var result = Authsec_V1_User()
        result.sub = user.sub
        result.username = user.username
        result.email = user.email
        result.name = user.name
        result.disabled = user.isDisabled
        result.createdAt = user.createdAt
        result.updatedAt = user.updatedAt
        return result
    }

    static func userResponse(_ user: User) -> Authsec_V1_UserResponse {
        var result = Authsec_V1_UserResponse()
        result.user = Self.user(user)
        return result
    }

    static func key(_ key: SigningKeyInfo) -> Authsec_V1_SigningKey {
        var result = Authsec_V1_SigningKey()
        result.kid = key.kid
        result.algorithm = key.algorithm
        result.createdAt = key.createdAt
        result.activatesAt = key.activatesAt
        result.retiredAt = key.retiredAt
        result.expiresAt = key.expiresAt
        result.isActive = key.isActive
        return result
    }
}

/// The calls that carry their own client-authentication fields (RFC 6749 §2.3.1, RFC 7523 §2.2).
protocol ClientAuthenticatingCall {
    var clientID: String { get }
    var clientSecret: String { get }
    var clientAssertionType: String { get }
    var clientAssertion: String { get }
}

extension Authsec_V1_TokenRequest: ClientAuthenticatingCall {}
extension Authsec_V1_IntrospectRequest: ClientAuthenticatingCall {}
extension Authsec_V1_RevokeRequest: ClientAuthenticatingCall {}
