import Store

extension Authority {
    /// Registers a user with a password, stored only as its bcrypt hash. Every field is checked
    /// before the (slow) hash is made; a username taken in any case is `already_exists`.
    public func createUser(
        username: String, email: String, name: String, password: String, by caller: AdminCaller
    ) async throws -> User {
        try await audited(.userCreate, by: caller, user: username) {
            try await createUserOnce(username: username, email: email, name: name, password: password, by: caller)
        }
    }

    private func createUserOnce(
        username: String, email: String, name: String, password: String, by caller: AdminCaller
    ) async throws -> User {
        try UserRules.checkUsername(username)
        try UserRules.checkEmail(email)
        try UserRules.checkName(name)
        try UserRules.checkPassword(password)
        let key = UserRules.indexKey(username)
        // Checked before hashing, so a taken name costs no hash; checked again in the write.
        guard try read({ try $0.get(Keyspace.usernames, key) }) == nil else { throw Self.usernameTaken(username) }
        let hash = try await passwordHasher.hash(password)
        var record = Authsec_Store_V1_UserRecord()
        record.sub = UserRules.newSub()
        record.username = username
        record.email = email
        record.name = name
        record.passwordHash = hash
        record.createdAt = clock.now()
        record.updatedAt = record.createdAt
        let stored = record
        try await write { txn in
            guard try !txn.contains(Keyspace.usernames, key) else { throw Self.usernameTaken(username) }
            guard try !txn.contains(Keyspace.users, stored.sub) else {
                throw AuthorityError(.alreadyExists, "user \(stored.sub) already exists")
            }
            var index = Authsec_Store_V1_UsernameRecord()
            index.sub = stored.sub
            try txn.put(Keyspace.users, stored.sub, stored)
            try txn.put(Keyspace.usernames, key, index)
            try self.putAudit(txn, .userCreate, by: caller, user: stored.sub, detail: "username \(username)")
        }
        return User(record: stored)
    }

    /// The user named by `user`: a sub (`u_…`) or a username in any case.
    public func user(_ user: String) throws -> User {
        try User(record: read { try Self.userRecord(user, in: $0) })
    }

    /// Up to `pageSize` users (default 50, at most 500) after `pageToken`, in username order
    /// ignoring case.
    public func listUsers(pageSize: Int, pageToken: String?) throws -> UserPage {
        let size = pageSize <= 0 ? 50 : min(pageSize, 500)
        let after = pageToken.flatMap { $0.isEmpty ? nil : $0 }
        if let after, after.utf8.count > UserRules.maxUsernameLength {
            throw AuthorityError(.invalidRequest, "page_token: not one this server gave")
        }
        let (rows, users) = try read { txn in
            let rows = try txn.scan(Keyspace.usernames, after: after, limit: size + 1)
            // Both tables change in one write, so every index row has its user.
            let users = try rows.prefix(size).compactMap { try txn.get(Keyspace.users, $0.value.sub) }
            return (rows, users)
        }
        return UserPage(
            users: users.map(User.init), nextPageToken: rows.count > size ? rows[size - 1].key : nil)
    }

    /// Changes a user's email and name, those given; the others keep their values.
    public func updateUser(_ user: String, email: String?, name: String?, by caller: AdminCaller) async throws
        -> User
    {
        guard email != nil || name != nil else {
            throw AuthorityError(.invalidRequest, "nothing to change: give email or name")
        }
        let fields = [email.map { _ in "email" }, name.map { _ in "name" }].compactMap { $0 }
        return try await audited(.userUpdate, by: caller, user: user) {
            if let email { try UserRules.checkEmail(email) }
            if let name { try UserRules.checkName(name) }
            return try await changeUser(
                user, .userUpdate, by: caller, detail: "fields: " + fields.joined(separator: ", ")
            ) {
                record in
                if let email { record.email = email }
                if let name { record.name = name }
            }
        }
    }

    /// Replaces a user's password; the old one stops working once the change is durable.
    public func setUserPassword(_ user: String, password: String, by caller: AdminCaller) async throws -> User {
        try await audited(.userSetPassword, by: caller, user: user) {
            try UserRules.checkPassword(password)
            // By sub from here on: an unknown user costs no hash, and a user deleted while the hash
            // is made cannot hand the password to another who takes their username meanwhile.
            let sub = try self.user(user).sub
            let hash = try await passwordHasher.hash(password)
            return try await changeUser(sub, .userSetPassword, by: caller) { $0.passwordHash = hash }
        }
    }

    /// Disables (or enables again) a user: a disabled user cannot sign in, and keeps everything else.
    public func setUserDisabled(_ user: String, disabled: Bool, by caller: AdminCaller) async throws -> User {
        let type: AuditType = disabled ? .userDisable : .userEnable
        return try await audited(type, by: caller, user: user) {
            try await changeUser(user, type, by: caller) { $0.disabled = disabled }
        }
    }

    /// Deletes a user and frees their username.
    public func deleteUser(_ user: String, by caller: AdminCaller) async throws {
        try await audited(.userDelete, by: caller, user: user) {
            try await write { txn in
                let record = try Self.userRecord(user, in: txn.reader)
                _ = try txn.delete(Keyspace.users, record.sub)
                _ = try txn.delete(Keyspace.usernames, UserRules.indexKey(record.username))
                try self.putAudit(txn, .userDelete, by: caller, user: record.sub, detail: "username \(record.username)")
            }
        }
    }

    /// The user whose username (in any case) and password these are, for a sign-in.
    ///
    /// An unknown username, a wrong password and a disabled user all get the one error
    /// `invalidCredentials`, and each costs one bcrypt check (a dummy one for an unknown user), so
    /// neither the answer nor its time tells whether a username exists. Throttling attempts is
    /// the caller's part (RFC 6749 §10.10).
    /// - Throws: `invalidCredentials`; a store error as usual.
    public func verifyPassword(username: String, password: String) async throws -> User {
        let record: Authsec_Store_V1_UserRecord? =
            (1...UserRules.maxUsernameLength).contains(username.utf8.count)
            ? try read { txn in
                try txn.get(Keyspace.usernames, UserRules.indexKey(username)).flatMap {
                    try txn.get(Keyspace.users, $0.sub)
                }
            } : nil
        let hash = UserRules.isWhollyRead(password) ? record?.passwordHash : nil
        let matches = try await passwordHasher.verify(password, against: hash)
        guard matches, let record, !record.disabled else { throw AuthorityError.invalidCredentials }
        return User(record: record)
    }

    /// Applies `change` to the user named by `user` in one write, stamping `updated_at`.
    private func changeUser(
        _ user: String, _ type: AuditType, by caller: AdminCaller, detail: String = "",
        _ change: @escaping @Sendable (inout Authsec_Store_V1_UserRecord) -> Void
    ) async throws -> User {
        let now = clock.now()
        return try await write { txn in
            var record = try Self.userRecord(user, in: txn.reader)
            let before = record
            change(&record)
            if record != before {
                record.updatedAt = now
                try txn.put(Keyspace.users, record.sub, record)
            }
            try self.putAudit(txn, type, by: caller, user: record.sub, detail: detail)
            return User(record: record)
        }
    }

    /// The record of the user named by `user` (a sub, or a username in any case).
    /// - Throws: `invalid_request` for an empty name, `not_found` for no such user.
    static func userRecord(_ user: String, in txn: ReadTransaction) throws -> Authsec_Store_V1_UserRecord {
        guard !user.isEmpty else {
            throw AuthorityError(.invalidRequest, "user: give a username or a user id (sub)")
        }
        // Neither a sub nor a username is longer; the store is never asked for an oversized key.
        var record: Authsec_Store_V1_UserRecord?
        if user.utf8.count <= UserRules.maxUsernameLength {
            if user.hasPrefix(UserRules.subPrefix) {
                record = try txn.get(Keyspace.users, user)
            } else if let index = try txn.get(Keyspace.usernames, UserRules.indexKey(user)) {
                record = try txn.get(Keyspace.users, index.sub)
            }
        }
        guard let record else { throw AuthorityError(.notFound, "user \(user) does not exist") }
        return record
    }

    private static func usernameTaken(_ username: String) -> AuthorityError {
        AuthorityError(.alreadyExists, "username: '\(username)' is taken (usernames are unique ignoring case)")
    }
}

extension AuthorityError {
    /// The one answer to a sign-in that fails for any reason: unknown user, wrong password or
    /// disabled user (RFC 6749 §5.2 `invalid_grant`: the resource owner's credentials are invalid).
    public static let invalidCredentials = AuthorityError(.invalidGrant, "invalid username or password")
}
