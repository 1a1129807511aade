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
    public static let admin = [adminClients, adminScopes, adminKeys]

    static let builtIn: [String: String] = [
        adminClients: "Manage clients (Authsec management API)",
        adminScopes: "Manage scopes (Authsec management API)",
        adminKeys: "Manage signing keys (Authsec management API)",
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
