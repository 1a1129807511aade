import ArgumentParser
import Foundation
import Wire

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the people who sign in (needs admin:users). USER is a username or a sub (u_…).",
        subcommands: [
            Create.self, List.self, Get.self, Update.self, Disable.self, Enable.self, Delete.self, SetPassword.self,
            Consents.self, RevokeConsent.self,
        ])

    static func object(_ user: Authsec_V1_User) -> [String: Any] {
        [
            "sub": user.sub, "username": user.username, "email": user.email, "name": user.name,
            "disabled": user.disabled, "created_at": user.createdAt, "updated_at": user.updatedAt,
        ]
    }

    static func show(_ user: Authsec_V1_User, json: Bool) {
        if json {
            say(ClientJSON.text(object(user)))
            return
        }
        var rows = [["sub", user.sub], ["username", user.username], ["email", user.email], ["name", user.name]]
        if user.disabled { rows.append(["disabled", "true (cannot sign in)"]) }
        printTable(["FIELD", "VALUE"], rows)
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a user; the password comes from standard input or a file, never the command line.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Username: 1 to 64 of A-Z a-z 0-9 . _ - @ +, unique ignoring case.") var username: String
        @Option(help: "Email address.") var email = ""
        @Option(help: "Display name.") var name = ""
        @OptionGroup var password: PasswordInput

        func run() async throws {
            var call = Authsec_V1_CreateUserRequest()
            call.username = username
            call.email = email
            call.name = name
            call.password = try password.read()
            show(try await connection.callAsAdmin(.createUser(call)).user.user, json: connection.json)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users by username, a page at a time.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var paging: PageOptions

        func run() async throws {
            let (users, token) = try await paging.collect { size, token in
                var call = Authsec_V1_ListUsersRequest()
                call.pageSize = size
                call.pageToken = token
                let page = try await connection.callAsAdmin(.listUsers(call)).users
                return (page.users, page.nextPageToken)
            }
            if connection.json {
                var object: [String: Any] = ["users": users.map(Users.object)]
                if !token.isEmpty { object["next_page_token"] = token }
                say(ClientJSON.text(object))
                return
            }
            printTable(
                ["SUB", "USERNAME", "EMAIL", "NAME", "DISABLED"],
                users.map { [$0.sub, $0.username, $0.email, $0.name, $0.disabled ? "yes" : "no"] })
            if !token.isEmpty { say("next page: --page-token \(token)") }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one user.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Username or sub.") var user: String

        func run() async throws {
            var call = Authsec_V1_GetUserRequest()
            call.user = user
            show(try await connection.callAsAdmin(.getUser(call)).user.user, json: connection.json)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a user's email or name (an empty value clears it); the others keep their values.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Username or sub.") var user: String
        @Option(help: "New email address.") var email: String?
        @Option(help: "New display name.") var name: String?

        func validate() throws {
            guard email != nil || name != nil else {
                throw ValidationError("nothing to change: give --email or --name")
            }
        }

        func run() async throws {
            var call = Authsec_V1_UpdateUserRequest()
            call.user = user
            if let email { call.email = email }
            if let name { call.name = name }
            show(try await connection.callAsAdmin(.updateUser(call)).user.user, json: connection.json)
        }
    }

    /// `users disable USER`: the user keeps their record but cannot sign in, until `users enable USER`.
    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a user from signing in; enable undoes it.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Username or sub.") var user: String

        func run() async throws { try await setDisabled(true, user, connection) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a disabled user sign in again.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Username or sub.") var user: String

        func run() async throws { try await setDisabled(false, user, connection) }
    }

    static func setDisabled(_ disabled: Bool, _ user: String, _ connection: ConnectionOptions) async throws {
        var call = Authsec_V1_SetUserDisabledRequest()
        call.user = user
        call.disabled = disabled
        show(try await connection.callAsAdmin(.setUserDisabled(call)).user.user, json: connection.json)
    }

    /// `users consents USER`: the clients the user allowed, with the scopes of each.
    struct Consents: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the clients a user has consented to.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Username or sub.") var user: String

        func run() async throws {
            var call = Authsec_V1_ListConsentsRequest()
            call.user = user
            let consents = try await connection.callAsAdmin(.listConsents(call)).consents.consents
            if connection.json {
                say(
                    ClientJSON.text([
                        "consents": consents.map {
                            [
                                "client_id": $0.clientID, "client_name": $0.clientName, "scopes": $0.scopes,
                                "granted_at": $0.grantedAt, "updated_at": $0.updatedAt,
                            ] as [String: Any]
                        }
                    ]))
                return
            }
            printTable(
                ["CLIENT", "NAME", "SCOPES", "GRANTED"],
                consents.map {
                    [
                        $0.clientID, $0.clientName, $0.scopes.joined(separator: " "),
                        Date(timeIntervalSince1970: TimeInterval($0.grantedAt)).ISO8601Format(),
                    ]
                })
        }
    }

    /// `users revoke-consent USER CLIENT_ID`: forgets the consent and revokes its grants.
    struct RevokeConsent: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke-consent",
            abstract: "Forget a user's consent to a client and revoke the refresh and access tokens issued under it.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Username or sub.") var user: String
        @Argument(help: "The client's id.") var clientID: String

        func run() async throws {
            var call = Authsec_V1_RevokeConsentRequest()
            call.user = user
            call.clientID = clientID
            _ = try await connection.callAsAdmin(.revokeConsent(call))
            if connection.json {
                say(ClientJSON.text(["revoked": true, "user": user, "client_id": clientID]))
            } else {
                say("revoked \(user)'s consent to \(clientID) and the tokens issued under it")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user; their username is free again.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Username or sub.") var user: String

        func run() async throws {
            var call = Authsec_V1_DeleteUserRequest()
            call.user = user
            _ = try await connection.callAsAdmin(.deleteUser(call))
            if connection.json {
                say(ClientJSON.text(["deleted": true, "user": user]))
            } else {
                say("deleted user \(user)")
            }
        }
    }

    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password", abstract: "Replace a user's password (from standard input or a file).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Username or sub.") var user: String
        @OptionGroup var password: PasswordInput

        func run() async throws {
            var call = Authsec_V1_SetUserPasswordRequest()
            call.user = user
            call.password = try password.read()
            show(try await connection.callAsAdmin(.setUserPassword(call)).user.user, json: connection.json)
        }
    }
}

/// Where a password comes from: standard input or a file, never an argument, which other users
/// of the machine could read in the process list and which shells keep in their history.
struct PasswordInput: ParsableArguments {
    @Flag(name: .customLong("password-stdin"), help: "Read the password from standard input.")
    var fromStandardInput = false
    @Option(name: .customLong("password-file"), help: ArgumentHelp("Read the password from a file.", valueName: "file"))
    var file: String?

    func validate() throws {
        guard fromStandardInput != (file != nil) else {
            throw ValidationError("give exactly one of --password-stdin and --password-file")
        }
    }

    /// The password, without the one line ending (`\n` or `\r\n`) that `echo` or an editor adds.
    func read() throws -> String {
        let data: Data
        if let file {
            guard let contents = FileManager.default.contents(atPath: file) else {
                warn("error: cannot read \(file)")
                throw ExitCode.failure
            }
            data = contents
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        guard var text = String(data: data, encoding: .utf8) else {
            warn("error: the password is not UTF-8 text")
            throw ExitCode.failure
        }
        // "\r\n" is one Character, so one removeLast takes either ending whole.
        if text.hasSuffix("\n") || text.hasSuffix("\r\n") { text.removeLast() }
        return text
    }
}
