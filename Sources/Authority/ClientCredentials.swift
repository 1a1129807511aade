import Foundation

/// How a caller presented its client credentials, parsed the same way for both doors.
public enum ClientCredentials: Sendable, Equatable {
    /// RFC 6749 §2.3.1, in an `Authorization: Basic` header (`client_secret_basic`).
    case basic(clientID: String, secret: String)
    /// RFC 6749 §2.3.1, in the request body (`client_secret_post`).
    case post(clientID: String, secret: String)
    /// RFC 7523 §2.2 (`private_key_jwt`); `clientID` is the optional `client_id` parameter.
    case assertion(jwt: String, clientID: String?)
    /// A public client naming itself (`none`).
    case publicClient(clientID: String)
    case missing

    static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    /// The client id the caller gave, unchecked (empty when none): what the audit log records of
    /// a failed authentication.
    var claimedClientID: String {
        switch self {
        case .basic(let clientID, _), .post(let clientID, _), .publicClient(let clientID): clientID
        case .assertion(_, let clientID): clientID ?? ""
        case .missing: ""
        }
    }

    /// Parses the credential sources of one request; more than one method is `invalid_request`
    /// (RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request).
    public static func parse(
        authorization: String?, clientID: String?, clientSecret: String?, assertionType: String?, assertion: String?
    ) throws(AuthorityError) -> ClientCredentials {
        var found: ClientCredentials?
        var methods = 0
        if let authorization, !authorization.isEmpty {
            let (id, secret) = try basic(authorization)
            found = .basic(clientID: id, secret: secret)
            methods += 1
            if let clientID, !clientID.isEmpty, clientID != id {
                throw AuthorityError(.invalidRequest, "client_id does not match the Basic credentials")
            }
        }
        if let clientSecret, !clientSecret.isEmpty {
            guard let clientID, !clientID.isEmpty else {
                throw AuthorityError(.invalidRequest, "client_secret given without client_id")
            }
            found = .post(clientID: clientID, secret: clientSecret)
            methods += 1
        }
        if let assertion, !assertion.isEmpty {
            guard assertionType == Self.assertionType else {
                throw AuthorityError(.invalidRequest, "client_assertion_type must be \(Self.assertionType)")
            }
            found = .assertion(jwt: assertion, clientID: clientID?.isEmpty == false ? clientID : nil)
            methods += 1
        }
        if methods > 1 {
            throw AuthorityError(.invalidRequest, "more than one client authentication method in one request")
        }
        if let found { return found }
        if let clientID, !clientID.isEmpty { return .publicClient(clientID: clientID) }
        return .missing
    }

    /// The id and secret of an `Authorization: Basic` header, parsed as bytes (this is on every
    /// token request's path).
    private static func basic(_ authorization: String) throws(AuthorityError) -> (id: String, secret: String) {
        let bytes = authorization.utf8
        guard bytes.count > 6, zip(bytes.prefix(6), "basic ".utf8).allSatisfy({ $0 | 0x20 == $1 }) else {
            throw AuthorityError(.invalidClient, "unsupported Authorization scheme; use Basic client credentials")
        }
        guard let decoded = Base64URL.decodeStandard(bytes.dropFirst(6)),
            let colon = decoded.firstIndex(of: UInt8(ascii: ":")),
            let id = formDecoded(decoded[..<colon]),
            let secret = formDecoded(decoded[(colon + 1)...])
        else { throw AuthorityError(.invalidClient, "malformed Basic credentials") }
        return (id, secret)
    }

    /// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encoding; nil if not UTF-8.
    private static func formDecoded(_ bytes: ArraySlice<UInt8>) -> String? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        return bytes.contains { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }
            ? text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding : text
    }

    /// Whether the caller used the Authorization header (a 401 then carries `WWW-Authenticate: Basic`).
    public var usedBasic: Bool {
        if case .basic = self { return true }
        return false
    }
}
