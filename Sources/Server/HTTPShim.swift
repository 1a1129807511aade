import Authority
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The HTTP door: the standard OAuth endpoints as thin adapters over the same Authority calls
/// the wire door uses. Errors follow RFC 6749 §5.2.
struct HTTPShim: Sendable {
    let authority: AuthorityCell
    let logger: Logger
    let maxBodySize: Int
    /// The wire door's address, advertised in the metadata once it is bound.
    var wireAddress = WireAddressCell()
    var metrics = ServerMetrics()
    /// Who may read `/metrics`.
    var metricsAccess = MetricsAccess.loopback

    func router() -> Router<DoorRequestContext> {
        // HEAD works wherever GET does (RFC 9110 §9.3.2).
        let router = Router(context: DoorRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: RequestMetricsMiddleware(series: metrics.http))
        router.add(middleware: CORSMiddleware(authority: authority))
        router.get("/healthz") { _, _ in
            json(.ok, #"{"status":"ok"}"#)
        }
        router.get("/metrics") { _, context in
            guard metricsAccess.allows(context.peer) else {
                return json(
                    .forbidden,
                    #"{"error":"access_denied","error_description":"/metrics is served to loopback and --metrics-allow ranges only"}"#
                )
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            headers[.cacheControl] = "no-store"
            return Response(
                status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        router.get("/.well-known/oauth-authorization-server") { _, _ in
            try ready { json(.ok, metadata($0), cacheable: true) }
        }
        // One document for both: OpenID Connect Discovery §3 is RFC 8414 with OpenID's fields.
        router.get("/.well-known/openid-configuration") { _, _ in
            try ready { json(.ok, metadata($0), cacheable: true) }
        }
        router.get("/.well-known/jwks.json") { _, _ in
            try ready { authority in
                var response = json(.ok, authority.jwksJSON(), cacheable: true)
                response.headers[.contentType] = "application/jwk-set+json"
                return response
            }
        }
        AuthorizePages(authority: authority, logger: logger, maxBodySize: maxBodySize).register(on: router)
        UserInfoRoute(authority: authority, maxBodySize: maxBodySize).register(on: router)
        RegistrationRoute(authority: authority).register(on: router)
        for endpoint in FormEndpoint.allCases {
            router.post(RouterPath(endpoint.rawValue)) { request, context in
                await respond(to: request, endpoint, context: context.call)
            }
            // The form endpoints take POST only (RFC 6749 §3.2): another method is 405, not 404.
            for method in [HTTPRequest.Method.get, .put, .delete, .patch] {
                router.on(RouterPath(endpoint.rawValue), method: method) { _, _ in
                    var response = json(
                        .methodNotAllowed,
                        #"{"error":"invalid_request","error_description":"\#(endpoint.rawValue) takes POST"}"#)
                    response.headers[.allow] = "POST"
                    return response
                }
            }
        }
        return router
    }

    /// Runs `body` once Authority is ready, or answers 503 while the server is still starting.
    private func ready(_ body: (Authority) throws -> Response) throws -> Response {
        guard let authority = authority.value else {
            return response(startingReply)
        }
        return try body(authority)
    }

    /// Parses a form POST and answers it (the async path, for calls that write or fetch).
    private func respond(to request: Request, _ endpoint: FormEndpoint, context: CallContext) async -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        let reply = await formReply(to: request, endpoint, context: context)
        metrics.http.record(ServerMetrics.Call(path: endpoint.rawValue), since: started, error: reply.error)
        return response(reply)
    }

    private func formReply(to request: Request, _ endpoint: FormEndpoint, context: CallContext) async -> FormReply {
        let authorization = request.headers[.authorization]
        guard authority.value != nil else { return startingReply }
        do {
            guard let contentType = request.headers[.contentType], Self.isForm(contentType.utf8) else {
                throw AuthorityError(.invalidRequest, "the request body must be application/x-www-form-urlencoded")
            }
            if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodySize {
                return tooLarge()
            }
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: maxBodySize)
            } catch is NIOTooManyBytesError {
                return tooLarge()
            } catch {
                // NIO's parser refused the body's bytes (a bad chunk size, say): the client's fault.
                return malformed(error)
            }
            let form = try FormBody(String(buffer: buffer))
            return await answer(endpoint, form: form, authorization: authorization, context: context).value()
        } catch {
            return errorReply(error, authorization: authorization)
        }
    }

    /// The answer to any call before Authority exists.
    private var startingReply: FormReply {
        errorReply(AuthorityError(.temporarilyUnavailable, "the server is starting"), basic: false)
    }

    /// Whether a Content-Type value, as bytes, names a form body (parameters such as a charset may follow).
    static func isForm(_ contentType: some Collection<UInt8>) -> Bool {
        contentType.count >= 33
            && zip(contentType, "application/x-www-form-urlencoded".utf8).allSatisfy { $0 | 0x20 == $1 }
    }

    /// Answers a form endpoint, now or after suspending (a durable write, or fetching a client's
    /// JWKS). Errors are replies too.
    func answer(_ endpoint: FormEndpoint, form: FormBody, authorization: String?, context: CallContext)
        -> Settled<FormReply>
    {
        guard let authority = authority.value else { return .now(startingReply) }
        do {
            switch endpoint {
            case .token:
                // RFC 8628 §3.5 and RFC 6749 §5.2: a denied device request is a 400 here.
                return settle(
                    authority.token(try tokenRequest(form, authorization), context: context),
                    authorization: authorization, deniedIsBadRequest: true
                ) { shim, grant in shim.tokenReply(grant) }
            case .introspect:
                // Authority refuses an empty token (invalid_request).
                return settle(
                    authority.introspect(
                        token: form["token"] ?? "", credentials: try credentials(form, authorization), context: context),
                    authorization: authorization
                ) { shim, answer in shim.introspectionReply(answer) }
            case .revoke:
                return settle(
                    authority.revoke(
                        token: form["token"] ?? "", tokenTypeHint: form["token_type_hint"],
                        credentials: try credentials(form, authorization), context: context),
                    authorization: authorization
                ) { _, _ in FormReply(status: .ok, body: "{}") }
            case .par:
                return settle(
                    authority.pushAuthorizationRequest(
                        form.fields, credentials: try credentials(form, authorization), context: context),
                    authorization: authorization
                ) { _, pushed in
                    var body = #"{"request_uri":"#
                    append(pushed.requestURI, to: &body)
                    return FormReply(status: .created, body: body + #","expires_in":\#(pushed.expiresIn)}"#)
                }
            case .deviceAuthorization:
                return settle(
                    authority.authorizeDevice(
                        scope: form["scope"], resources: form.all("resource"),
                        credentials: try credentials(form, authorization), context: context),
                    authorization: authorization
                ) { shim, device in shim.deviceReply(device) }
            case .charge:
                let token = form["token"] ?? ""
                let amount = try Self.amount(form["amount"])
                return settle(
                    authority.authenticate(try credentials(form, authorization), context: context).map {
                        try authority.charge(token: token, amount: amount, by: $0, context: context)
                    },
                    authorization: authorization
                ) { shim, charge in shim.chargeReply(charge) }
            }
        } catch {
            return .now(errorReply(error, authorization: authorization))
        }
    }

    /// `answer` as a reply: `reply` for its value, `errorReply` for its error.
    ///
    /// `reply` gets the shim as an argument rather than capturing it, and a ready answer is
    /// replied to inline: a closure over the shim would copy it (retaining the authority, the
    /// logger and the metrics, which every event loop shares) on every request.
    private func settle<Value>(
        _ answer: Answer<Value>, authorization: String?, deniedIsBadRequest: Bool = false,
        _ reply: @escaping @Sendable (HTTPShim, Value) -> FormReply
    ) -> Settled<FormReply> {
        @Sendable func failure(_ error: any Error) -> FormReply {
            var failed = errorReply(error, authorization: authorization)
            if deniedIsBadRequest, failed.error == AuthorityError.Code.accessDenied.rawValue {
                failed.status = .badRequest
            }
            return failed
        }
        switch answer.readyResult {
        case .success(let value)?: return .now(reply(self, value))
        case .failure(let error)?: return .now(failure(error))
        case nil: return answer.settled({ reply(self, $0) }, failure: failure)
        }
    }

    private func tokenRequest(_ form: FormBody, _ authorization: String?) throws -> TokenRequest {
        TokenRequest(
            grantType: form["grant_type"] ?? "", scope: form["scope"],
            audiences: form.all("audience") + form.all("resource"), credentials: try credentials(form, authorization),
            code: form["code"], redirectURI: form["redirect_uri"], codeVerifier: form["code_verifier"],
            refreshToken: form["refresh_token"], deviceCode: form["device_code"],
            subjectToken: form["subject_token"], subjectTokenType: form["subject_token_type"],
            actorToken: form["actor_token"], actorTokenType: form["actor_token_type"],
            requestedTokenType: form["requested_token_type"], assertion: form["assertion"])
    }

    private func tokenReply(_ grant: TokenGrant) -> FormReply {
        var body = #"{"access_token":""#
        body.reserveCapacity(grant.accessToken.utf8.count + 128)
        body += grant.accessToken  // our own JWT: base64url and dots, nothing to escape
        body += #"","token_type":"Bearer","expires_in":\#(grant.expiresIn),"scope":"#
        append(grant.scope, to: &body)
        if let refreshToken = grant.refreshToken { body += ",\"refresh_token\":\"" + refreshToken + "\"" }
        if let idToken = grant.idToken { body += ",\"id_token\":\"" + idToken + "\"" }
        if let issued = grant.issuedTokenType { body += ",\"issued_token_type\":\"" + issued + "\"" }
        return FormReply(status: .ok, body: body + "}")
    }

    private func deviceReply(_ device: DeviceAuthorization) -> FormReply {
        var body = #"{"device_code":"#
        append(device.deviceCode, to: &body)
        body += #","user_code":"#
        append(device.userCode, to: &body)
        body += #","verification_uri":"#
        append(device.verificationURI, to: &body)
        body += #","verification_uri_complete":"#
        append(device.verificationURIComplete, to: &body)
        return FormReply(
            status: .ok, body: body + #","expires_in":\#(device.expiresIn),"interval":\#(device.interval)}"#)
    }

    /// A charge's `amount`: a whole number (Authority checks its range).
    static func amount(_ text: String?) throws -> Int64 {
        guard let text, !text.isEmpty else { throw AuthorityError(.invalidRequest, "amount is required") }
        guard let amount = Int64(text) else {
            throw AuthorityError(.invalidRequest, "amount must be a whole number of model tokens")
        }
        return amount
    }

    private func chargeReply(_ charge: QuotaCharge) -> FormReply {
        let remaining = charge.remaining.map(String.init) ?? "null"
        return FormReply(
            status: .ok,
            body: #"{"allowed":\#(charge.allowed),"remaining":\#(remaining),"resets_at":\#(charge.resetsAt)}"#)
    }

    private func introspectionReply(_ answer: Introspection) -> FormReply {
        guard let claims = answer.claims else { return FormReply(status: .ok, body: #"{"active":false}"#) }
        return FormReply(status: .ok, body: introspectionJSON(claims, agent: answer.agent))
    }

    private func credentials(_ form: FormBody, _ authorization: String?) throws -> ClientCredentials {
        try ClientCredentials.parse(
            authorization: authorization, clientID: form["client_id"], clientSecret: form["client_secret"],
            assertionType: form["client_assertion_type"], assertion: form["client_assertion"])
    }

    /// 400 for bytes NIO's HTTP parser refused; the connection closes, as its framing is lost.
    private func malformed(_ error: any Error) -> FormReply {
        logger.debug("malformed http request", metadata: ["error": "\(error)"])
        var reply = Self.reply(for: AuthorityError(.invalidRequest, "the request could not be parsed"))
        reply.closesConnection = true
        return reply
    }

    private func tooLarge() -> FormReply {
        var reply = Self.reply(for: AuthorityError(.invalidRequest, "request body exceeds \(maxBodySize) bytes"))
        reply.status = .contentTooLarge
        reply.closesConnection = true
        return reply
    }

    /// RFC 6749 §5.2 for a thrown error; anything but an AuthorityError is logged and hidden.
    func errorReply(_ error: any Error, authorization: String?) -> FormReply {
        guard let failure = error as? AuthorityError else {
            logger.error("http request failed", metadata: ["error": "\(error)"])
            return errorReply(AuthorityError(.serverError, "internal error"), basic: false)
        }
        if failure.code == .serverError || failure.code == .storageFull {
            logger.error(
                "http request failed",
                metadata: ["code": "\(failure.code.rawValue)", "detail": "\(failure.detail ?? "")"])
        }
        let basic = authorization.map {
            $0.utf8.count >= 5 && zip($0.utf8, "basic".utf8).allSatisfy { $0 | 0x20 == $1 }
        }
        return errorReply(failure, basic: basic ?? false)
    }

    func errorReply(_ failure: AuthorityError, basic: Bool) -> FormReply {
        Self.reply(for: failure, basic: basic)
    }

    /// RFC 6749 §5.2 JSON for `failure`, with the headers its extras call for.
    static func reply(for failure: AuthorityError, basic: Bool = false) -> FormReply {
        var body = #"{"error":"#
        append(failure.code.rawValue, to: &body)
        body += #","error_description":"#
        append(failure.description, to: &body)
        // RFC 6749 §5.2: a 401 names the scheme the client tried in its Authorization header.
        return FormReply(
            status: failure.code.httpStatus, body: body + "}",
            basicChallenge: failure.code == .invalidClient && basic, retryAfter: failure.retryAfter,
            error: failure.code.rawValue)
    }

    private func response(_ reply: FormReply) -> Response {
        Response(
            status: reply.status, headers: reply.headerFields,
            body: ResponseBody(byteBuffer: ByteBuffer(string: reply.body)))
    }

    private func metadata(_ authority: Authority) -> String {
        let issuer = authority.issuer
        var object: [String: Any] = [
            "issuer": issuer,
            "token_endpoint": issuer + "/oauth/token",
            "jwks_uri": issuer + "/.well-known/jwks.json",
            "introspection_endpoint": issuer + "/oauth/introspect",
            "revocation_endpoint": issuer + "/oauth/revoke",
            "authorization_endpoint": issuer + "/authorize",
            "userinfo_endpoint": issuer + "/userinfo",
            "end_session_endpoint": issuer + "/logout",
            "pushed_authorization_request_endpoint": issuer + "/oauth/par",
            "require_pushed_authorization_requests": false,
            "device_authorization_endpoint": issuer + "/oauth/device/code",
            "registration_endpoint": issuer + "/register",
            "client_id_metadata_document_supported": true,
            "grant_types_supported": [
                "authorization_code", "client_credentials", "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:token-exchange",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
            ],
            // Enterprise-managed authorization: Identity Assertion JWT Authorization Grants.
            "authorization_grant_profiles_supported": ["urn:ietf:params:oauth:grant-profile:id-jag"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "authorization_response_iss_parameter_supported": true,
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "private_key_jwt", "none",
            ],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "ES384", "RS256", "PS256", "EdDSA"],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "private_key_jwt",
            ],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "private_key_jwt", "none",
            ],
            // Reserved scopes are for Authsec's own management; no client library should ask for them.
            "scopes_supported":
                (["openid", "profile", "email"]
                + ((try? authority.listScopes().map(\.name)) ?? [])).uniqued().filter {
                    !Scopes.reserved.contains($0)
                },
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256", "RS256"],
            "claims_supported": [
                "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "sid", "name",
                "preferred_username", "updated_at", "email", "email_verified",
            ],
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
        ]
        // Authsec's own field: where its binary protocol is served (RFC 8414 §2 allows more).
        if let wire = wireAddress.value { object["authsec_wire_address"] = wire }
        // JSONSerialization of plain strings and arrays cannot fail.
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    private func introspectionJSON(_ claims: AccessTokenClaims, agent: AgentClaims?) -> String {
        var body = #"{"active":true,"scope":"#
        body.reserveCapacity(384)
        append(claims.scope, to: &body)
        body += #","client_id":"#
        append(claims.clientID, to: &body)
        body += #","sub":"#
        append(claims.sub, to: &body)
        body += #","aud":"#
        JSONText.appendAudience(claims.aud, to: &body)
        body += #","iss":"#
        append(claims.iss, to: &body)
        body += #","exp":\#(claims.exp),"iat":\#(claims.iat),"jti":"#
        append(claims.jti, to: &body)
        if let agent { body += #","agent":"# + agent.json }
        if let act = claims.actJSON { body += #","act":"# + act }
        return body + #","token_type":"Bearer"}"#
    }
}

/// Appends a JSON string literal.
func append(_ text: String, to json: inout String) {
    JSONText.appendString(text, to: &json)
}

func json(_ status: HTTPResponse.Status, _ body: String, cacheable: Bool = false) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    if cacheable { headers[.cacheControl] = "public, max-age=300" }
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
}

/// The OAuth endpoints that take a form POST.
enum FormEndpoint: String, CaseIterable, Sendable {
    case token = "/oauth/token"
    case introspect = "/oauth/introspect"
    case revoke = "/oauth/revoke"
    /// Authsec's own: a gateway charges model tokens to an agent's daily budget.
    case charge = "/quota/charge"
    /// RFC 9126 pushed authorization requests.
    case par = "/oauth/par"
    /// RFC 8628 device authorization.
    case deviceAuthorization = "/oauth/device/code"
}

/// A form endpoint's answer: always JSON with `Cache-Control: no-store`.
struct FormReply: Sendable {
    private static let challenge = #"Basic realm="authsec""#

    var status: HTTPResponse.Status
    var body: String
    /// An `invalid_client` answer to a caller that tried Basic carries `WWW-Authenticate`.
    var basicChallenge = false
    /// Seconds for a `Retry-After` header (RFC 9110 §10.2.3).
    var retryAfter: Int64?
    /// The OAuth error code of an error answer, for the metrics.
    var error: String?
    /// The request's framing cannot be trusted (an unparsable or oversized body): `Connection: close`.
    var closesConnection = false

    /// The headers every form reply carries, whichever path sends it.
    var headerFields: HTTPFields {
        var fields = HTTPFields()
        fields.reserveCapacity(5)
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        if basicChallenge { fields[.wwwAuthenticate] = Self.challenge }
        if let retryAfter { fields[.retryAfter] = String(retryAfter) }
        if closesConnection { fields[.connection] = "close" }
        return fields
    }

    /// `headerFields` as HTTP/1.1 header lines, each ending in CRLF, for a path that writes bytes.
    var headerLines: String {
        if retryAfter != nil || closesConnection { return Self.lines(headerFields) }
        return basicChallenge ? Self.challengeLines : Self.plainLines
    }

    private static let plainLines = lines(FormReply(status: .ok, body: "").headerFields)
    private static let challengeLines = lines(FormReply(status: .ok, body: "", basicChallenge: true).headerFields)

    private static func lines(_ fields: HTTPFields) -> String {
        fields.map { "\($0.name.rawName): \($0.value)\r\n" }.joined()
    }
}
