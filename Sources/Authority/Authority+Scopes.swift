import Store

extension Authority {
    /// Registers a scope clients may then be allowed.
    public func createScope(name: String, description: String, by caller: AdminCaller = .inProcess) async throws
        -> Scope
    {
        try await audited(.scopeCreate, by: caller) {
            try await createScopeOnce(name: name, description: description, by: caller)
        }
    }

    private func createScopeOnce(name: String, description: String, by caller: AdminCaller) async throws -> Scope {
        guard Scopes.isValidName(name) else {
            throw AuthorityError(
                .invalidRequest,
                "name: '\(name)' is not a valid scope (printable ASCII, no spaces, quotes or backslashes, at most 128 characters)"
            )
        }
        guard !ClientValidator.oidcScopes.contains(name) else {
            throw AuthorityError(.alreadyExists, "scope \(name) is a standard OpenID Connect scope and always exists")
        }
        guard description.count <= 1000 else {
            throw AuthorityError(.invalidRequest, "description: longer than 1000 characters")
        }
        let scope = Scope(name: name, description: description, createdAt: clock.now())
        defer { caches.scopesChanged() }
        try await write { txn in
            guard try !txn.contains(Keyspace.scopes, name) else {
                throw AuthorityError(.alreadyExists, "scope \(name) already exists")
            }
            var record = Authsec_Store_V1_ScopeRecord()
            record.name = scope.name
            record.description_p = scope.description
            record.createdAt = scope.createdAt
            try txn.put(Keyspace.scopes, name, record)
            try self.putAudit(txn, .scopeCreate, by: caller, detail: name)
        }
        return scope
    }

    public func listScopes() throws -> [Scope] {
        try read { try $0.scan(Keyspace.scopes, limit: .max) }.map {
            Scope(name: $0.value.name, description: $0.value.description_p, createdAt: $0.value.createdAt)
        }
    }

    /// Removes a scope. Clients that listed it can no longer obtain it (a request for it is `invalid_scope`).
    public func deleteScope(_ name: String, by caller: AdminCaller = .inProcess) async throws {
        try await audited(.scopeDelete, by: caller) { try await deleteScopeOnce(name, by: caller) }
    }

    private func deleteScopeOnce(_ name: String, by caller: AdminCaller) async throws {
        guard Scopes.builtIn[name] == nil else {
            throw AuthorityError(.failedPrecondition, "scope \(name) is built in and cannot be deleted")
        }
        defer { caches.scopesChanged() }
        try await write { txn in
            guard try txn.contains(Keyspace.scopes, name) else {
                throw AuthorityError(.notFound, "scope \(name) does not exist")
            }
            // A client allowed a missing scope could not be updated, and its default tokens
            // would quietly narrow: the scope goes only once no client names it.
            var users: [String] = []
            var after: String?
            while users.count <= 3 {  // a fourth says there are others
                let page = try txn.reader.scan(Keyspace.clients, after: after, limit: 1000)
                users += page.filter { $0.value.client.allowedScopes.contains(name) }.map(\.key)
                guard page.count == 1000 else { break }
                after = page.last?.key
            }
            guard users.isEmpty else {
                throw AuthorityError(
                    .failedPrecondition,
                    "scope \(name) is in allowed_scopes of client \(users.prefix(3).joined(separator: ", "))"
                        + (users.count > 3 ? " and others" : "") + "; remove it from them first")
            }
            _ = try txn.delete(Keyspace.scopes, name)
            try self.putAudit(txn, .scopeDelete, by: caller, detail: name)
        }
    }
}
