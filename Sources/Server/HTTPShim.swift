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

    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ in
            json(.ok, #"{"status":"ok"}"#)
        }
        router.get("/.well-known/oauth-authorization-server") { _, _ in
            try ready { json(.ok, metadata($0), cacheable: true) }
        }
        router.get("/.well-known/jwks.json") { _, _ in
            try ready { authority in
                var response = json(.ok, authority.jwksJSON(), cacheable: true)
                response.headers[.contentType] = "application/jwk-set+json"
                return response
            }
        }
        router.post("/oauth/token") { request, _ in
            await respond(to: request, noStore: true) { authority, form, authorization in
                let credentials = try credentials(form, authorization)
                let audiences = form.all("audience") + form.all("resource")
                let grant = try await authority.token(
                    TokenRequest(
                        grantType: form["grant_type"] ?? "", scope: form["scope"], audiences: audiences,
                        credentials: credentials))
                var body = #"{"access_token":"#
                append(grant.accessToken, to: &body)
                body += #","token_type":"Bearer","expires_in":\#(grant.expiresIn),"scope":"#
                append(grant.scope, to: &body)
                return body + "}"
            }
        }
        router.post("/oauth/introspect") { request, _ in
            await respond(to: request, noStore: true) { authority, form, authorization in
                let token = form["token"] ?? ""  // Authority refuses an empty one (invalid_request)
                let answer = try await authority.introspect(
                    token: token, credentials: try credentials(form, authorization))
                guard let claims = answer.claims else { return #"{"active":false}"# }
                return introspectionJSON(claims)
            }
        }
        router.post("/oauth/revoke") { request, _ in
            await respond(to: request, noStore: true) { authority, form, authorization in
                let token = form["token"] ?? ""  // Authority refuses an empty one (invalid_request)
                try await authority.revoke(
                    token: token, tokenTypeHint: form["token_type_hint"],
                    credentials: try credentials(form, authorization))
                return "{}"
            }
        }
        return router
    }

    /// Runs `body` once Authority is ready, or answers 503 while the server is still starting.
    private func ready(_ body: (Authority) throws -> Response) throws -> Response {
        guard let authority = authority.value else {
            return error(AuthorityError(.temporarilyUnavailable, "the server is starting"), basic: false)
        }
        return try body(authority)
    }

    /// Parses a form POST and turns thrown errors into RFC 6749 §5.2 responses.
    private func respond(
        to request: Request, noStore: Bool,
        _ body: @Sendable (Authority, FormBody, String?) async throws -> String
    ) async -> Response {
        guard let authority = authority.value else {
            return error(AuthorityError(.temporarilyUnavailable, "the server is starting"), basic: false)
        }
        let authorization = request.headers[.authorization]
        do {
            let contentType = request.headers[.contentType] ?? ""
            guard contentType.utf8.count >= 33,
                contentType.utf8.prefix(33).map({ $0 | 0x20 }).elementsEqual("application/x-www-form-urlencoded".utf8)
            else {
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
            }
            let form = try FormBody(String(buffer: buffer))
            var response = json(.ok, try await body(authority, form, authorization))
            if noStore {
                response.headers[.cacheControl] = "no-store"
            }
            return response
        } catch let failure as AuthorityError {
            if failure.code == .serverError || failure.code == .storageFull {
                logger.error(
                    "http request failed",
                    metadata: ["code": "\(failure.code.rawValue)", "detail": "\(failure.detail ?? "")"])
            }
            return error(failure, basic: authorization?.lowercased().hasPrefix("basic") ?? false)
        } catch {
            logger.error("http request failed", metadata: ["error": "\(error)"])
            return self.error(AuthorityError(.serverError, "internal error"), basic: false)
        }
    }

    private func credentials(_ form: FormBody, _ authorization: String?) throws -> ClientCredentials {
        try ClientCredentials.parse(
            authorization: authorization, clientID: form["client_id"], clientSecret: form["client_secret"],
            assertionType: form["client_assertion_type"], assertion: form["client_assertion"])
    }

    private func tooLarge() -> Response {
        var response = json(
            .contentTooLarge,
            #"{"error":"invalid_request","error_description":"request body exceeds \#(maxBodySize) bytes"}"#)
        response.headers[.connection] = "close"
        return response
    }

    func error(_ failure: AuthorityError, basic: Bool) -> Response {
        var body = #"{"error":"#
        append(failure.code.rawValue, to: &body)
        body += #","error_description":"#
        append(failure.description, to: &body)
        body += "}"
        var response = json(HTTPResponse.Status(code: failure.code.httpStatus), body)
        response.headers[.cacheControl] = "no-store"
        if failure.code == .invalidClient, basic {
            // RFC 6749 §5.2: a 401 names the scheme the client tried in its Authorization header.
            response.headers[.wwwAuthenticate] = #"Basic realm="authsec""#
        }
        return response
    }

    private func metadata(_ authority: Authority) -> String {
        let issuer = authority.issuer
        let object: [String: Any] = [
            "issuer": issuer,
            "token_endpoint": issuer + "/oauth/token",
            "jwks_uri": issuer + "/.well-known/jwks.json",
            "introspection_endpoint": issuer + "/oauth/introspect",
            "revocation_endpoint": issuer + "/oauth/revoke",
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": [String](),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "ES384", "RS256", "PS256", "EdDSA"],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "private_key_jwt",
            ],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "private_key_jwt",
            ],
            "scopes_supported": (try? authority.listScopes().map(\.name)) ?? [],
            "code_challenge_methods_supported": ["S256"],
        ]
        // JSONSerialization of plain strings and arrays cannot fail.
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    private func introspectionJSON(_ claims: AccessTokenClaims) -> String {
        var body = #"{"active":true,"scope":"#
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
