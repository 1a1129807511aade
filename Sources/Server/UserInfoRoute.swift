import Authority
import Hummingbird
import NIOCore

/// `/userinfo` (OpenID Connect Core §5.3): GET or POST with a Bearer access token (RFC 6750 §2.1,
/// or the form's `access_token`, §2.2). Errors carry `WWW-Authenticate: Bearer` (RFC 6750 §3).
struct UserInfoRoute: Sendable {
    let authority: AuthorityCell
    let maxBodySize: Int

    func register(on router: Router<DoorRequestContext>) {
        router.get("/userinfo") { request, _ in answer(token: bearer(request)) }
        router.post("/userinfo") { request, _ in
            var token = bearer(request)
            if token == nil, let type = request.headers[.contentType], HTTPShim.isForm(type.utf8),
                let body = try? await request.body.collect(upTo: maxBodySize),
                let fields = try? FormBody.parameters(String(buffer: body)).get()
            {
                token = fields.first { $0.name == "access_token" }?.value
            }
            return answer(token: token)
        }
    }

    private func bearer(_ request: Request) -> String? {
        request.headers[.authorization].flatMap(WireService.bearerToken)
    }

    private func answer(token: String?) -> Response {
        guard let authority = authority.value else {
            return json(.serviceUnavailable, #"{"error":"temporarily_unavailable"}"#)
        }
        guard let token, !token.isEmpty else {
            // RFC 6750 §3.1: a request without a token gets the challenge and no error code.
            var response = json(
                .unauthorized, #"{"error":"invalid_request","error_description":"a Bearer access token is required"}"#)
            response.headers[.wwwAuthenticate] = #"Bearer realm="authsec""#
            return response
        }
        do {
            let info = try authority.userInfo(accessToken: token)
            var body = #"{"sub":"#
            append(info.sub, to: &body)
            if let username = info.preferredUsername {
                body += #","preferred_username":"#
                append(username, to: &body)
            }
            if let name = info.name {
                body += #","name":"#
                append(name, to: &body)
            }
            if let updatedAt = info.updatedAt { body += #","updated_at":\#(updatedAt)"# }
            if let email = info.email {
                body += #","email":"#
                append(email, to: &body)
                body += #","email_verified":false"#
            }
            var response = json(.ok, body + "}")
            response.headers[.cacheControl] = "no-store"
            return response
        } catch let error as AuthorityError {
            var body = #"{"error":"#
            append(error.code.rawValue, to: &body)
            body += #","error_description":"#
            append(error.description, to: &body)
            var response = json(error.code.httpStatus, body + "}")
            if error.code == .invalidToken || error.code == .insufficientScope {
                response.headers[.wwwAuthenticate] = #"Bearer realm="authsec", error="\#(error.code.rawValue)""#
            }
            return response
        } catch {
            return json(.internalServerError, #"{"error":"server_error"}"#)
        }
    }
}
