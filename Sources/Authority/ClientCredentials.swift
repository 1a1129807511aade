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

    /// Parses the credential sources of one request; more than one method is `invalid_request`
    /// (RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request).
    public static func parse(
        authorization: String?, clientID: String?, clientSecret: String?, assertionType: String?, assertion: String?
    ) throws(AuthorityError) -> ClientCredentials {
        var found: [ClientCredentials] = []
        if let authorization, !authorization.isEmpty {
            let bytes = Array(authorization.utf8)
            guard bytes.count > 6, bytes[0..<6].map({ $0 | 0x20 }) == Array("basic ".utf8) else {
                throw AuthorityError(.invalidClient, "unsupported Authorization scheme; use Basic client credentials")
            }
            guard let decoded = Base64URL.decodeStandard(bytes[6...]),
                let text = String(validating: decoded, as: UTF8.self), let colon = text.firstIndex(of: ":"),
                let id = Self.formDecoded(text[..<colon]),
                let secret = Self.formDecoded(text[text.index(after: colon)...])
            else {
                throw AuthorityError(.invalidClient, "malformed Basic credentials")
            }
            found.append(.basic(clientID: id, secret: secret))
            if let clientID, !clientID.isEmpty, clientID != id {
                throw AuthorityError(.invalidRequest, "client_id does not match the Basic credentials")
            }
        }
        if let clientSecret, !clientSecret.isEmpty {
            guard let clientID, !clientID.isEmpty else {
                throw AuthorityError(.invalidRequest, "client_secret given without client_id")
            }
            found.append(.post(clientID: clientID, secret: clientSecret))
        }
        if let assertion, !assertion.isEmpty {
            guard assertionType == Self.assertionType else {
                throw AuthorityError(.invalidRequest, "client_assertion_type must be \(Self.assertionType)")
            }
            found.append(.assertion(jwt: assertion, clientID: clientID?.isEmpty == false ? clientID : nil))
        }
        if found.count > 1 {
            throw AuthorityError(.invalidRequest, "more than one client authentication method in one request")
        }
        if let only = found.first { return only }
        if let clientID, !clientID.isEmpty { return .publicClient(clientID: clientID) }
        return .missing
    }

    /// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encoding.
    private static func formDecoded(_ text: Substring) -> String? {
        // Byte checks: Foundation's substring search would dominate this hot path.
        text.utf8.contains { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }
            ? text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding : String(text)
    }

    /// Whether the caller used the Authorization header (a 401 then carries `WWW-Authenticate: Basic`).
    public var usedBasic: Bool {
        if case .basic = self { return true }
        return false
    }
}
