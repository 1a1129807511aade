import Foundation

/// An authorization request (RFC 6749 §4.1.1) as the browser sent it, by query or form.
public struct AuthorizationRequest: Sendable {
    /// Every parameter in order, repeats included: a repeated singular parameter is an error
    /// (RFC 6749 §3.1), and `resource` may repeat (RFC 8707 §2).
    public var parameters: [(name: String, value: String)]

    public init(parameters: [(name: String, value: String)]) {
        self.parameters = parameters
    }

    /// The one value of `name`, or nil when absent or empty (RFC 6749 §3.1: empty means omitted).
    /// - Throws: `invalid_request` when it is given more than once.
    public func single(_ name: String) throws -> String? {
        let values = parameters.filter { $0.name == name }
        guard values.count <= 1 else { throw AuthorityError(.invalidRequest, "\(name) is given more than once") }
        guard let value = values.first?.value, !value.isEmpty else { return nil }
        return value
    }

    func all(_ name: String) -> [String] {
        parameters.filter { $0.name == name && !$0.value.isEmpty }.map(\.value)
    }
}

/// An authorization request that passed every check: what the sign-in and consent pages carry
/// until a code is issued. It is sealed into the pages it passes through, so only the server
/// can make or change one.
public struct Authorization: Sendable, Codable, Equatable {
    public var clientID: String
    /// Where the response goes: the request's `redirect_uri`, or the client's one callback.
    public var redirectURI: String
    /// Whether the request named `redirect_uri`; then the token request must name it too (RFC 6749 §4.1.3).
    public var redirectURIWasGiven: Bool
    public var scopes: [String]
    /// The token's `aud`: the `resource` values (RFC 8707), or the issuer when none.
    public var audiences: [String]
    public var state: String?
    public var nonce: String?
    /// The PKCE S256 challenge (RFC 7636), when the client made one.
    public var codeChallenge: String?
    /// `prompt=login` or a `max_age` the session is older than: the user must sign in again.
    public var requiresSignIn: Bool
    /// `prompt=consent`: ask even for scopes consented before.
    public var requiresConsent: Bool
    /// `prompt=none`: never show a page; answer `login_required` or `consent_required` instead.
    public var forbidsInteraction: Bool
    /// Seconds since sign-in after which the user must sign in again (OpenID `max_age`).
    public var maxAge: Int64?
    public var loginHint: String?
    /// When the request was checked; a sealed authorization expires (`Authorization.lifetime`).
    public var checkedAt: Int64

    /// How long a sign-in or consent page stays usable.
    public static let lifetime: Int64 = 600
}

/// Why an authorization request was refused, and so how the browser is told (RFC 6749 §4.1.2.1).
public enum AuthorizationRefusal: Error, Sendable {
    /// An unknown client or a redirect URI that is not registered: an error page, never a redirect.
    case page(AuthorityError)
    /// Any other error, sent back to the client's redirect URI with `error`, `state` and `iss`.
    case redirect(AuthorityError, redirectURI: String, state: String?)
}

/// A response sent to a client's redirect URI (RFC 6749 §4.1.2), `iss` always included (RFC 9207).
public enum AuthorizationResponse {
    /// `redirectURI` with `parameters` added to its query; the URI's own query is kept (RFC 6749 §3.1.2).
    public static func url(_ redirectURI: String, _ parameters: [(String, String?)]) -> String {
        var url = redirectURI
        var separator: Character = redirectURI.contains("?") ? "&" : "?"
        for case (let name, let value?) in parameters {
            url.append(separator)
            url += name + "=" + percentEncoded(value)
            separator = "&"
        }
        return url
    }

    /// Unreserved characters (RFC 3986 §2.3) stay; everything else is percent-encoded.
    public static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
