import Foundation
import Testing
import Wire

/// Users administered through the wire door of the real server process (real LMDB, real bcrypt).
@Suite(.serialized, .timeLimit(.minutes(3))) struct UserAdminTests {
    /// One server and a connection with a management token holding admin:users.
    struct Admin {
        let server: ServerProcess
        let client: WireClient
        let bearer: String

        func call(_ call: Authsec_V1_Request.OneOf_Call, as authorization: String? = nil) async throws
            -> Authsec_V1_Response
        {
            try await client.call(Authsec_V1_Request(authorization: authorization ?? bearer, call: call))
        }

        func create(
            _ username: String, password: String = "correct horse", email: String = "", name: String = ""
        ) async throws -> Authsec_V1_Response {
            var create = Authsec_V1_CreateUserRequest()
            create.username = username
            create.password = password
            create.email = email
            create.name = name
            return try await call(.createUser(create))
        }

        func get(_ user: String) async throws -> Authsec_V1_Response {
            try await call(.getUser(.with { $0.user = user }))
        }
    }

    func withAdmin(_ body: (Admin) async throws -> Void) async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let client = try await server.connect()
        defer { Task { await client.close() } }
        try await body(Admin(server: server, client: client, bearer: try await server.adminBearer(client)))
    }

    @Test func createGetListUpdateDisableEnableDelete() async throws {
        try await withAdmin { admin in
            let created = try await admin.create("Ada.Lovelace", email: "ada@example.com", name: "Ada Lovelace")
            #expect(created.status.code == .ok, "\(created.status)")
            let ada = created.user.user
            #expect(ada.sub.hasPrefix("u_") && ada.sub.count == 24, "\(ada.sub)")
            #expect(ada.username == "Ada.Lovelace" && ada.email == "ada@example.com" && ada.name == "Ada Lovelace")
            #expect(!ada.disabled && ada.createdAt > 0 && ada.updatedAt == ada.createdAt)
            // No answer carries the password or its hash.
            let bytes = try created.serializedBytes() as [UInt8]
            #expect(!String(decoding: bytes, as: UTF8.self).contains("$2b$"))
            #expect(!String(decoding: bytes, as: UTF8.self).contains("correct horse"))

            // By sub, by username, by username in another case.
            for name in [ada.sub, "Ada.Lovelace", "ada.lovelace", "ADA.LOVELACE"] {
                let got = try await admin.get(name)
                #expect(got.status.code == .ok && got.user.user == ada, "\(name): \(got.status)")
            }

            for name in ["bob", "carol", "dave"] { #expect(try await admin.create(name).status.code == .ok) }
            var list = Authsec_V1_ListUsersRequest()
            list.pageSize = 3
            let first = try await admin.call(.listUsers(list)).users
            #expect(first.users.map(\.username) == ["Ada.Lovelace", "bob", "carol"])
            #expect(!first.nextPageToken.isEmpty)
            list.pageToken = first.nextPageToken
            let second = try await admin.call(.listUsers(list)).users
            #expect(second.users.map(\.username) == ["dave"] && second.nextPageToken.isEmpty)

            var update = Authsec_V1_UpdateUserRequest()
            update.user = "ada.lovelace"
            update.name = "Augusta Ada King"
            let updated = try await admin.call(.updateUser(update)).user.user
            #expect(updated.name == "Augusta Ada King" && updated.email == "ada@example.com")
            update.clearName()
            update.email = ""
            let cleared = try await admin.call(.updateUser(update)).user.user
            #expect(cleared.name == "Augusta Ada King" && cleared.email == "")

            let disabled = try await admin.call(
                .setUserDisabled(
                    .with {
                        $0.user = ada.sub; $0.disabled = true
                    }))
            #expect(disabled.user.user.disabled)
            #expect(try await admin.get(ada.sub).user.user.disabled)
            let enabled = try await admin.call(
                .setUserDisabled(
                    .with {
                        $0.user = ada.sub; $0.disabled = false
                    }))
            #expect(!enabled.user.user.disabled)

            let deleted = try await admin.call(.deleteUser(.with { $0.user = "ADA.lovelace" }))
            #expect(deleted.status.code == .ok, "\(deleted.status)")
            if case .deleted = deleted.result {} else { Issue.record("expected deleted, got \(deleted.result as Any)") }
            #expect(try await admin.get(ada.sub).status.code == .notFound)
            #expect(try await admin.get("Ada.Lovelace").status.code == .notFound)
            #expect(try await admin.call(.deleteUser(.with { $0.user = ada.sub })).status.code == .notFound)
            // The username is free again, for a new sub.
            let again = try await admin.create("ada.lovelace")
            #expect(again.status.code == .ok && again.user.user.sub != ada.sub)
        }
    }

    @Test func usernamesAreUniqueIgnoringCase() async throws {
        try await withAdmin { admin in
            #expect(try await admin.create("Grace").status.code == .ok)
            for taken in ["Grace", "grace", "GRACE", "gRaCe"] {
                let status = try await admin.create(taken).status
                #expect(status.code == .alreadyExists && status.error == "already_exists", "\(taken): \(status)")
                #expect(status.message.hasPrefix("username:"), "\(status.message)")
            }
            #expect(try await admin.call(.listUsers(.init())).users.users.count == 1)
        }
    }

    @Test func badInputIsRefusedWithTheFieldNamed() async throws {
        try await withAdmin { admin in
            let cases: [(field: String, username: String, password: String, email: String, name: String)] = [
                ("username", "", "correct horse", "", ""),
                ("username", "has space", "correct horse", "", ""),
                ("username", "semi;colon", "correct horse", "", ""),
                ("username", "émile", "correct horse", "", ""),
                ("username", ".dot-first", "correct horse", "", ""),
                ("username", "u_looks_like_a_sub", "correct horse", "", ""),
                ("username", String(repeating: "a", count: 65), "correct horse", "", ""),
                ("password", "shortpw", "seven77", "", ""),
                ("password", "longpw", String(repeating: "p", count: 73), "", ""),
                ("password", "nulpw", "correct\0horse", "", ""),
                ("email", "bademail", "correct horse", "not-an-address", ""),
                ("email", "longemail", "correct horse", String(repeating: "e", count: 250) + "@x.io", ""),
                ("name", "longname", "correct horse", "", String(repeating: "n", count: 201)),
                ("name", "ctrlname", "correct horse", "", "bell\u{7}"),
            ]
            for bad in cases {
                let status = try await admin.create(
                    bad.username, password: bad.password, email: bad.email, name: bad.name
                )
                .status
                #expect(status.code == .invalidArgument, "\(bad.username): \(status)")
                #expect(status.message.hasPrefix(bad.field + ":"), "\(bad.username): \(status.message)")
            }
            // 72 bytes is the limit, in bytes: 24 three-byte characters pass, one more byte does not.
            #expect(try await admin.create("edge72", password: String(repeating: "€", count: 24)).status.code == .ok)
            #expect(
                try await admin.create("edge73", password: String(repeating: "€", count: 24) + "x").status.code
                    == .invalidArgument)
            #expect(try await admin.call(.listUsers(.init())).users.users.map(\.username) == ["edge72"])

            // Updates and password changes are checked the same way; nothing half-saved.
            var update = Authsec_V1_UpdateUserRequest()
            update.user = "edge72"
            update.name = "fine"
            update.email = "nope"
            let refused = try await admin.call(.updateUser(update)).status
            #expect(refused.code == .invalidArgument && refused.message.hasPrefix("email:"), "\(refused)")
            #expect(try await admin.get("edge72").user.user.name == "")
            let nothing = try await admin.call(.updateUser(.with { $0.user = "edge72" })).status
            #expect(nothing.code == .invalidArgument, "\(nothing)")
            let short = try await admin.call(
                .setUserPassword(
                    .with {
                        $0.user = "edge72"; $0.password = "short"
                    }))
            #expect(short.status.code == .invalidArgument && short.status.message.hasPrefix("password:"))

            // Naming no user, or one that does not exist, however long.
            #expect(try await admin.get("").status.code == .invalidArgument)
            for missing in ["nobody", "u_AAAAAAAAAAAAAAAAAAAAAA", String(repeating: "x", count: 600)] {
                #expect(try await admin.get(missing).status.code == .notFound, "\(missing.prefix(20))")
                let status = try await admin.call(
                    .setUserPassword(
                        .with {
                            $0.user = missing; $0.password = "long enough"
                        })
                )
                .status
                #expect(status.code == .notFound)
            }
            var page = Authsec_V1_ListUsersRequest()
            page.pageToken = String(repeating: "t", count: 600)
            #expect(try await admin.call(.listUsers(page)).status.code == .invalidArgument)
        }
    }

    /// Every user call needs admin:users: a client without it is PERMISSION_DENIED, and a
    /// delegated admin:clients admin cannot hand admin:users to a client of its own.
    @Test func adminUsersScopeIsRequired() async throws {
        try await withAdmin { admin in
            #expect(try await admin.create("someone").status.code == .ok)
            var delegate = Authsec_V1_CreateClientRequest()
            delegate.client.name = "Client admin"
            delegate.client.allowedScopes = ["admin:clients"]
            let created = try await admin.call(.createClient(delegate)).client
            let basic =
                "Basic " + Data("\(created.client.clientID):\(created.clientSecret)".utf8).base64EncodedString()
            let token = try await admin.client.call(.managementToken(authorization: basic)).token.accessToken
            let narrow = "Bearer " + token
            let calls: [Authsec_V1_Request.OneOf_Call] = [
                .createUser(
                    .with {
                        $0.username = "mallory"; $0.password = "correct horse"
                    }),
                .getUser(.with { $0.user = "someone" }),
                .listUsers(.init()),
                .updateUser(
                    .with {
                        $0.user = "someone"; $0.name = "x"
                    }),
                .deleteUser(.with { $0.user = "someone" }),
                .setUserPassword(
                    .with {
                        $0.user = "someone"; $0.password = "correct horse"
                    }),
                .setUserDisabled(
                    .with {
                        $0.user = "someone"; $0.disabled = true
                    }),
            ]
            for call in calls {
                let status = try await admin.call(call, as: narrow).status
                #expect(status.code == .permissionDenied && status.error == "insufficient_scope", "\(call): \(status)")
                let anonymous = try await admin.call(call, as: "").status
                #expect(anonymous.code == .unauthenticated, "\(call): \(anonymous)")
            }
            // The admin:clients delegate cannot give itself or another client admin:users.
            var escalate = Authsec_V1_CreateClientRequest()
            escalate.client.name = "Escalation"
            escalate.client.allowedScopes = ["admin:users"]
            let refused = try await admin.call(.createClient(escalate), as: narrow).status
            #expect(refused.code == .permissionDenied && refused.error == "access_denied", "\(refused)")
            // The init admin's own client holds admin:users.
            let root = try await admin.call(.getClient(.with { $0.clientID = admin.server.adminID })).client.client
            #expect(root.allowedScopes.contains("admin:users"))
            #expect(try await admin.get("someone").user.user.username == "someone")
        }
    }

    /// A new password replaces the old one, and the user's record says when.
    @Test func setPasswordKeepsTheRest() async throws {
        try await withAdmin { admin in
            let created = try await admin.create("pat", email: "pat@example.com").user.user
            let changed = try await admin.call(
                .setUserPassword(
                    .with {
                        $0.user = "PAT"; $0.password = "a new passphrase"
                    }))
            #expect(changed.status.code == .ok, "\(changed.status)")
            #expect(changed.user.user.sub == created.sub && changed.user.user.email == "pat@example.com")
            #expect(changed.user.user.updatedAt >= created.updatedAt)
        }
    }

    /// bcrypt never runs on an event loop: with one wire thread, a token call sent behind six
    /// password hashes (about a second of work on two cores) is answered while they still run.
    @Test func hashingLeavesTheEventLoopFree() async throws {
        let server = try ServerProcess(arguments: ["--wire-threads", "1"])
        defer { server.stop(); server.removeData() }
        let client = try await server.connect()
        defer { Task { await client.close() } }
        let admin = Admin(server: server, client: client, bearer: try await server.adminBearer(client))
        let clock = ContinuousClock()
        let start = clock.now
        let (tokenAnsweredAt, createsAnsweredAt) = try await withThrowingTaskGroup(
            of: (isToken: Bool, at: ContinuousClock.Instant).self
        ) { group in
            for index in 0..<6 {
                group.addTask {
                    let response = try await admin.create("hasher\(index)")
                    #expect(response.status.code == .ok, "\(response.status)")
                    return (false, clock.now)
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(20))
                let response = try await client.call(.clientCredentials(authorization: server.basicAdmin))
                #expect(response.status.code == .ok, "\(response.status)")
                return (true, clock.now)
            }
            var token = start
            var creates: [ContinuousClock.Instant] = []
            for try await answer in group {
                if answer.isToken { token = answer.at } else { creates.append(answer.at) }
            }
            return (token, creates)
        }
        // Relative to the hashes, not to a wall-clock bound, so a loaded machine cannot fail it:
        // run inline, the first hash would hold the one event loop before the token call.
        #expect(createsAnsweredAt.count == 6)
        #expect(
            createsAnsweredAt.allSatisfy { $0 > tokenAnsweredAt },
            "token answered after \(tokenAnsweredAt - start), behind a hash")
    }

    /// Users survive a restart of the server.
    @Test func usersAreDurable() async throws {
        let server = try ServerProcess()
        defer { server.removeData() }
        var sub = ""
        do {
            let client = try await server.connect()
            let admin = Admin(server: server, client: client, bearer: try await server.adminBearer(client))
            sub = try await admin.create("durable").user.user.sub
            await client.close()
        }
        server.stop()
        let restarted = try ServerProcess(directory: server.directory, expectCredentials: false)
        defer { restarted.stop() }
        let client = try await restarted.connect()
        defer { Task { await client.close() } }
        // The restarted process printed no credentials: the first start's admin still holds.
        let token = try await client.call(.managementToken(authorization: server.basicAdmin)).token.accessToken
        let response = try await client.call(
            Authsec_V1_Request(authorization: "Bearer " + token, call: .getUser(.with { $0.user = "DURABLE" })))
        #expect(response.user.user.sub == sub, "\(response.status)")
    }
}
