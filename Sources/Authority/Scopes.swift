/// A registered scope.
public struct Scope: Sendable, Equatable {
    public var name: String
    public var description: String
    public var createdAt: Int64

    public init(name: String, description: String, createdAt: Int64) {
        self.name = name
        self.description = description
        self.createdAt = createdAt
    }
}

/// Scope names and the built-in ones.
public enum Scopes {
    /// Management scopes; registered at initialization and never deletable.
    public static let adminClients = "admin:clients"
    public static let adminScopes = "admin:scopes"
    public static let adminKeys = "admin:keys"
    /// Manages the people who sign in (schema version 6 on; the 5 → 6 migration gives it to the init admin).
    public static let adminUsers = "admin:users"
    /// Management calls accept only tokens carrying one of these, for the management audience.
    public static let management = [adminClients, adminScopes, adminKeys, adminUsers]
    /// Lets a client (an API gateway) introspect every token, not only its own and those for its
    /// resources (RFC 7662 §4). A privilege of the client's credentials, not of a token.
    public static let introspectAny = "authsec:introspect"

    /// Scopes that are granted only by the client credentials grant, never through a person's
    /// grant, and that a caller can give to a client only when it holds them itself.
    public static let reserved: Set<String> = Set(management + [introspectAny])

    /// The only `aud` a management call's Bearer token may carry (RFC 8707 resource identifier).
    ///
    /// A token for any other audience could be replayed by that resource server, so management
    /// scopes are issued only in tokens for this audience alone.
    public static let managementAudience = "urn:authsec:management"

    static let builtIn: [String: String] = [
        adminClients: "Manage clients (Authsec management API)",
        adminScopes: "Manage scopes (Authsec management API)",
        adminKeys: "Manage signing keys (Authsec management API)",
        adminUsers: "Manage users (Authsec management API)",
        introspectAny: "Introspect any token (API gateways)",
    ]

    /// RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`; at most 128 characters here.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128
            && name.utf8.allSatisfy { $0 == 0x21 || (0x23...0x5B).contains($0) || (0x5D...0x7E).contains($0) }
    }

    /// Splits a space-delimited scope parameter; nil if it has an empty or invalid token.
    static func parse(_ text: String) -> [String]? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard parts.allSatisfy(isValidName) else { return nil }
        return parts.uniqued()
    }
}
