/// A person who can sign in: what an admin sees of a user. The password hash never leaves the
/// domain, so no door can send it.
public struct User: Sendable, Equatable {
    /// The stable id, `u_` and 128 random bits: the `sub` of tokens issued for this user.
    public let sub: String
    /// As the admin wrote it; unique among users ignoring ASCII case.
    public let username: String
    public let email: String
    public let name: String
    public let isDisabled: Bool
    public let createdAt: Int64
    public let updatedAt: Int64

    init(record: Authsec_Store_V1_UserRecord) {
        sub = record.sub
        username = record.username
        email = record.email
        name = record.name
        isDisabled = record.disabled
        createdAt = record.createdAt
        updatedAt = record.updatedAt
    }
}

/// One page of users in username order (ignoring case).
public struct UserPage: Sendable {
    public let users: [User]
    /// Pass back to get the next page; nil on the last one.
    public let nextPageToken: String?
}
