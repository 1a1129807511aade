/// How clients may register themselves at `/register` (RFC 7591), from `serve`'s flags.
public struct RegistrationPolicy: Sendable {
    /// `--open-registration`: anyone may register; otherwise only with an initial access token.
    public var isOpen: Bool
    /// `--registration-scopes`: the scopes a registered client may be allowed; nil means every
    /// registered scope that is not reserved, and OpenID's own.
    public var scopes: [String]?
    /// `--registration-ttl`: a registered client unused this many seconds is deleted.
    public var unusedLifetime: Int64
    /// Registrations one client address may make before it is slowed down, within `LoginThrottle.window`.
    public var registrationsPerAddress: Int

    public static let defaultUnusedLifetime: Int64 = 30 * 86_400

    /// Why `scopes` (space-separated) cannot be the registration scopes, or nil if it can: a
    /// registered client never holds a reserved scope.
    public static func problem(withScopes scopes: String) -> String? {
        let names = scopes.split(separator: " ").map(String.init)
        if let bad = names.first(where: { !Scopes.isValidName($0) }) { return "'\(bad)' is not a scope name" }
        if let reserved = names.first(where: Scopes.reserved.contains) {
            return "'\(reserved)' is reserved and is never given to a registered client"
        }
        return nil
    }

    public init(
        isOpen: Bool = false, scopes: [String]? = nil, unusedLifetime: Int64 = defaultUnusedLifetime,
        registrationsPerAddress: Int = 20
    ) {
        self.isOpen = isOpen
        self.scopes = scopes
        self.unusedLifetime = unusedLifetime
        self.registrationsPerAddress = registrationsPerAddress
    }
}
