/// What a user's fields may hold, and the errors that name the field when they do not.
///
/// Usernames are ASCII on purpose: lowercasing ASCII is the whole of case-insensitive
/// uniqueness, with no Unicode normalization or look-alike letters (`раураl` with Cyrillic
/// letters) to make two names that read the same. A person's name in their own script goes in
/// `name`, which takes any text.
enum UserRules {
    /// Usernames are at most this many characters (bytes: they are ASCII).
    static let maxUsernameLength = 64
    /// RFC 5321 §4.5.3.1.3 limits a path, and so an address, to 254 octets of it.
    static let maxEmailLength = 254
    static let maxNameLength = 200
    /// Fewer characters than this is too easily guessed (NIST SP 800-63B §5.1.1.2: at least 8).
    static let minPasswordLength = 8
    /// bcrypt reads only the first 72 bytes; a longer password would be silently cut, so it is refused.
    static let maxPasswordBytes = 72
    /// Subs start with this, and usernames may not, so a call can name a user by either.
    static let subPrefix = "u_"

    /// A new sub: `u_` and 128 random bits as base64url (24 characters).
    ///
    /// Unlike client ids, no time prefix: a sub is shown to every client the user signs in to,
    /// and creation is paced by the password hash anyway, so B-tree locality buys nothing.
    static func newSub() -> String { subPrefix + Secrets.randomBase64URL(bytes: 16) }

    /// The key of `usernames`: the name in ASCII lowercase.
    static func indexKey(_ username: String) -> String {
        String(decoding: username.utf8.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// Refuses a username that breaks the rules, naming the field.
    static func checkUsername(_ username: String) throws {
        let bytes = Array(username.utf8)
        guard !bytes.isEmpty else { throw invalid("username: must not be empty") }
        guard bytes.count <= maxUsernameLength else {
            throw invalid("username: longer than \(maxUsernameLength) characters")
        }
        guard bytes.allSatisfy(isUsernameByte) else {
            throw invalid("username: only letters A-Z and a-z, digits and . _ - @ + are allowed")
        }
        guard isAlphanumeric(bytes[0]) else { throw invalid("username: must start with a letter or digit") }
        guard !indexKey(username).hasPrefix(subPrefix) else {
            throw invalid("username: must not start with '\(subPrefix)', which is how user ids start")
        }
    }

    /// An email is optional; when given, one `@` between a non-empty local part and a domain
    /// with no spaces or control characters. Whether mail reaches it is not Authsec's to check.
    static func checkEmail(_ email: String) throws {
        guard !email.isEmpty else { return }
        guard email.utf8.count <= maxEmailLength else {
            throw invalid("email: longer than \(maxEmailLength) bytes")
        }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
            email.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F })
        else {
            throw invalid("email: '\(email)' is not an address like name@example.com")
        }
    }

    /// Any text without control characters, up to `maxNameLength` characters.
    static func checkName(_ name: String) throws {
        guard name.count <= maxNameLength else { throw invalid("name: longer than \(maxNameLength) characters") }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw invalid("name: must not contain control characters")
        }
    }

    /// At least 8 characters and at most 72 bytes, with no NUL (bcrypt would stop reading there).
    static func checkPassword(_ password: String) throws {
        guard password.count >= minPasswordLength else {
            throw invalid("password: shorter than \(minPasswordLength) characters")
        }
        guard password.utf8.count <= maxPasswordBytes else {
            throw invalid("password: longer than \(maxPasswordBytes) bytes (bcrypt reads no further)")
        }
        guard !password.utf8.contains(0) else { throw invalid("password: must not contain a NUL character") }
    }

    /// Whether bcrypt reads all of `password`: no more than 72 bytes and no NUL. Any other
    /// cannot be one `checkPassword` let in, and must not match one that shares its first bytes.
    /// (Length alone is not checked: a rule made stricter later must not lock out older passwords.)
    static func isWhollyRead(_ password: String) -> Bool {
        password.utf8.count <= maxPasswordBytes && !password.utf8.contains(0)
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }

    private static func isUsernameByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: "@") || byte == UInt8(ascii: "+")
    }

    private static func invalid(_ message: String) -> AuthorityError {
        AuthorityError(.invalidRequest, message)
    }
}
