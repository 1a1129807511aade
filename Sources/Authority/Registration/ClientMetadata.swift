import ClientModel
import Foundation

/// RFC 7591 §2 client metadata, read from a registration request's JSON into a client's fields.
///
/// Each value is type-checked and a wrong one is refused naming its field; unknown fields are
/// ignored (§2), as are `contacts`, `tos_uri`, `policy_uri` and `software_version`, which Authsec
/// does not keep. Only the authorization code, refresh token and device grants may be registered:
/// a client that registers itself gets no token without a person's consent.
struct ClientMetadata {
    var fields = Authsec_V1_Client()
    /// `application_type` (OpenID Connect Dynamic Registration §2): `web` or `native`.
    var appType = AppType.web

    static let registrableGrants: Set<GrantType> = [.authorizationCode, .refreshToken, .deviceCode]
    static let maxDocumentSize = 16 * 1024

    /// Our field names in RFC 7591's spelling, for errors the one validator words in ours.
    static let rfcNames: [(ours: String, theirs: String)] = [
        ("callbacks", "redirect_uris"), ("allowed_scopes", "scope"), ("logout_urls", "post_logout_redirect_uris"),
        ("logo", "logo_uri"), ("website", "client_uri"), ("name", "client_name"),
    ]

    /// Reads `data`, a JSON object of client metadata.
    /// - Throws: `invalid_client_metadata` naming the field at fault.
    static func parse(_ data: some Collection<UInt8>) throws -> ClientMetadata {
        guard data.count <= maxDocumentSize else {
            throw AuthorityError(.invalidClientMetadata, "the metadata exceeds \(maxDocumentSize) bytes")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] else {
            throw AuthorityError(.invalidClientMetadata, "the body must be a JSON object of client metadata")
        }
        return try ClientMetadata(object)
    }

    init(_ object: [String: Any]) throws {
        func string(_ name: String, max: Int = 2048) throws -> String? {
            guard let value = object[name], !(value is NSNull) else { return nil }
            guard let text = value as? String, text.utf8.count <= max else {
                throw Self.invalid(name, "must be a string of at most \(max) bytes")
            }
            return text
        }
        func strings(_ name: String, max: Int = 50) throws -> [String]? {
            guard let value = object[name], !(value is NSNull) else { return nil }
            guard let list = value as? [Any], list.count <= max,
                let texts = list as? [String], texts.allSatisfy({ $0.utf8.count <= 2048 })
            else { throw Self.invalid(name, "must be an array of at most \(max) strings") }
            return texts
        }
        if let type = try string("application_type") {
            switch type {
            case "web": appType = .web
            case "native": appType = .mobile
            default: throw Self.invalid("application_type", "'\(type)' is not web or native")
            }
        }
        fields.appType = appType.rawValue
        let redirects = try strings("redirect_uris") ?? []
        fields.callbacks = redirects
        let grants = try (strings("grant_types") ?? []).map { spelling in
            guard let grant = GrantType(spelling: spelling), Self.registrableGrants.contains(grant) else {
                throw Self.invalid(
                    "grant_types",
                    "'\(spelling)' cannot be registered; use authorization_code, refresh_token or urn:ietf:params:oauth:grant-type:device_code"
                )
            }
            return grant
        }
        fields.grantTypes = grants.map(\.rawValue)
        let responseTypes = try strings("response_types") ?? ["code"]
        if let other = responseTypes.first(where: { $0 != "code" }) {
            throw Self.invalid("response_types", "'\(other)' is not supported; only code is")
        }
        if !responseTypes.isEmpty, !grants.isEmpty, !grants.contains(.authorizationCode) {
            throw Self.invalid("response_types", "code needs the authorization_code grant")
        }
        // RFC 7591 §2: the default is client_secret_basic.
        let method = try string("token_endpoint_auth_method") ?? ClientAuthMethod.clientSecretBasic.rawValue
        guard ClientAuthMethod(rawValue: method) != nil else {
            throw Self.invalid(
                "token_endpoint_auth_method",
                "'\(method)' is not one of none, client_secret_basic, client_secret_post, private_key_jwt")
        }
        fields.tokenEndpointAuthMethod = method
        if appType == .mobile, method != ClientAuthMethod.none.rawValue {
            throw Self.invalid(
                "token_endpoint_auth_method", "a native application must use none (it cannot keep a secret)")
        }
        if let scope = try string("scope", max: 4096) {
            guard let parsed = Scopes.parse(scope) else { throw Self.invalid("scope", "is malformed") }
            fields.allowedScopes = parsed
        }
        let softwareID = try string("software_id", max: 200)
        fields.softwareID = softwareID ?? ""
        fields.name = try string("client_name", max: 200) ?? softwareID ?? "Registered client"
        fields.logo = try string("logo_uri") ?? ""
        fields.website = try string("client_uri") ?? ""
        fields.logoutUrls = try strings("post_logout_redirect_uris") ?? []
        fields.jwksUri = try string("jwks_uri") ?? ""
        if let jwks = object["jwks"], !(jwks is NSNull) {
            guard JSONSerialization.isValidJSONObject(jwks),
                let text = try? JSONSerialization.data(withJSONObject: jwks, options: [.sortedKeys]),
                text.count <= 8192
            else { throw Self.invalid("jwks", "must be a JWK Set object of at most 8 KB") }
            fields.jwks = String(decoding: text, as: UTF8.self)
        }
        if let alg = try string("id_token_signed_response_alg", max: 16) { fields.idTokenSignedResponseAlg = alg }
        if method == ClientAuthMethod.none.rawValue { fields.requireProofKeyForCodeExchange = true }
    }

    static func invalid(_ field: String, _ problem: String) -> AuthorityError {
        AuthorityError(.invalidClientMetadata, "\(field): \(problem)")
    }

    /// `error` as a registration's caller spells the fields (a validator error names ours).
    static func spelledForRegistration(_ error: AuthorityError) -> AuthorityError {
        for (ours, theirs) in rfcNames where error.description.hasPrefix(ours + ":") {
            return AuthorityError(error.code, theirs + error.description.dropFirst(ours.count), detail: error.detail)
        }
        return error
    }
}
