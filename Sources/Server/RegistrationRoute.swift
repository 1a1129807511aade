import Authority
import Foundation
import Hummingbird
import NIOCore

/// `/register`: dynamic client registration (RFC 7591) and its management by the registration
/// access token at `/register/{client_id}` (RFC 7592). JSON in and out; errors are RFC 7591 §3.2.2's
/// `{"error", "error_description"}`, and a bad token gets `WWW-Authenticate: Bearer` (RFC 6750 §3).
struct RegistrationRoute: Sendable {
    let authority: AuthorityCell
    /// A registration is small: RFC 7591 metadata over this is refused before it is parsed.
    static let maxBodySize = 16 * 1024

    func register(on router: Router<DoorRequestContext>) {
        router.post("/register") { request, context in
            await answer { authority in
                let body = try await Self.body(request)
                let registration = try await authority.register(
                    body, initialAccessToken: Self.bearer(request), context: context.call)
                var object = Self.metadata(of: registration.client)
                if let secret = registration.secret {
                    object["client_secret"] = secret
                    object["client_secret_expires_at"] = 0
                }
                if let token = registration.accessToken {
                    object["registration_access_token"] = token
                    object["registration_client_uri"] = Self.clientURI(registration.client.clientID, authority)
                }
                return Self.json(registration.accessToken == nil ? .ok : .created, object)
            }
        }
        router.get("/register/:client_id") { request, context in
            await answer { authority in
                let clientID = context.parameters.get("client_id") ?? ""
                let client = try authority.registeredClient(clientID, accessToken: Self.bearer(request) ?? "")
                return Self.json(.ok, Self.managed(client, authority))
            }
        }
        router.put("/register/:client_id") { request, context in
            await answer { authority in
                let clientID = context.parameters.get("client_id") ?? ""
                let body = try await Self.body(request)
                let client = try await authority.updateRegistration(
                    clientID, accessToken: Self.bearer(request) ?? "", body, context: context.call)
                return Self.json(.ok, Self.managed(client, authority))
            }
        }
        router.delete("/register/:client_id") { request, context in
            await answer { authority in
                let clientID = context.parameters.get("client_id") ?? ""
                try await authority.deleteRegistration(
                    clientID, accessToken: Self.bearer(request) ?? "", context: context.call)
                var headers = HTTPFields()
                headers[.cacheControl] = "no-store"
                return Response(status: .noContent, headers: headers)
            }
        }
    }

    private func answer(_ body: (Authority) async throws -> Response) async -> Response {
        guard let authority = authority.value else {
            return Self.error(AuthorityError(.temporarilyUnavailable, "the server is starting"))
        }
        do {
            return try await body(authority)
        } catch let error as AuthorityError {
            return Self.error(error)
        } catch is NIOTooManyBytesError {
            // The rest of the body is not read, so the connection's framing is lost: close it.
            var response = Self.error(
                AuthorityError(.invalidClientMetadata, "the metadata exceeds \(Self.maxBodySize) bytes"),
                status: .contentTooLarge)
            response.headers[.connection] = "close"
            return response
        } catch {
            return Self.error(AuthorityError(.invalidRequest, "the request body could not be read"))
        }
    }

    /// The request's JSON body, at most `maxBodySize` bytes.
    static func body(_ request: Request) async throws -> [UInt8] {
        guard let type = request.headers[.contentType],
            type.lowercased().hasPrefix("application/json")
        else { throw AuthorityError(.invalidClientMetadata, "the body must be application/json") }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodySize {
            throw NIOTooManyBytesError(maxBytes: maxBodySize)
        }
        let buffer = try await request.body.collect(upTo: maxBodySize)
        return Array(buffer.readableBytesView)
    }

    static func bearer(_ request: Request) -> String? {
        request.headers[.authorization].flatMap(WireService.bearerToken)
    }

    static func clientURI(_ clientID: String, _ authority: Authority) -> String {
        authority.issuer + "/register/" + clientID
    }

    /// RFC 7592 §3: what reading or replacing answers, with the registration's own URI.
    static func managed(_ client: Client, _ authority: Authority) -> [String: Any] {
        var object = metadata(of: client)
        object["registration_client_uri"] = clientURI(client.clientID, authority)
        return object
    }

    /// A client in RFC 7591's names.
    static func metadata(of client: Client) -> [String: Any] {
        var object: [String: Any] = [
            "client_id": client.clientID,
            "client_id_issued_at": client.registeredAt != 0 ? client.registeredAt : client.createdAt,
            "client_name": client.name,
            "redirect_uris": client.callbacks,
            "grant_types": client.fields.grantTypes,
            "response_types": client.grantTypes.contains(.authorizationCode) ? ["code"] : [],
            "token_endpoint_auth_method": client.authMethod.rawValue,
            "scope": client.allowedScopes.joined(separator: " "),
            "application_type": client.appType == .mobile ? "native" : "web",
        ]
        let optional: [(String, String)] = [
            ("software_id", client.softwareID), ("logo_uri", client.logo), ("client_uri", client.website),
            ("jwks_uri", client.jwksUri), ("id_token_signed_response_alg", client.idTokenSignedResponseAlg),
        ]
        for (name, value) in optional where !value.isEmpty { object[name] = value }
        if !client.logoutUrls.isEmpty { object["post_logout_redirect_uris"] = client.logoutUrls }
        if !client.jwks.isEmpty, let jwks = try? JSONSerialization.jsonObject(with: Data(client.jwks.utf8)) {
            object["jwks"] = jwks
        }
        return object
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ failure: AuthorityError, status: HTTPResponse.Status? = nil) -> Response {
        var response = json(
            status ?? failure.code.httpStatus,
            ["error": failure.code.rawValue, "error_description": failure.description])
        if failure.code == .invalidToken {
            response.headers[.wwwAuthenticate] = #"Bearer realm="authsec", error="invalid_token""#
        }
        if let retryAfter = failure.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}
