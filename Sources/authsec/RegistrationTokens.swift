import ArgumentParser
import Foundation
import Wire

/// `authsec registration-tokens`: initial access tokens for `/register` (RFC 7591 §3).
struct RegistrationTokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registration-tokens",
        abstract:
            "Initial access tokens that let a client register itself at /register when the server does not run with --open-registration (needs admin:clients).",
        subcommands: [Create.self, List.self, Revoke.self])

    static func object(_ token: Authsec_V1_RegistrationToken) -> [String: Any] {
        [
            "id": token.id, "created_at": token.createdAt, "expires_at": token.expiresAt,
            "uses_left": token.usesLeft, "created_by": token.createdBy,
        ]
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token; it is shown once. A client sends it as `Authorization: Bearer` to /register.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "How long it works (1m to 365d).") var ttl = DurationArgument(argument: "7d")!
        @Option(help: "Registrations it allows; 0 means any number until it expires.") var uses: Int64 = 1

        func run() async throws {
            var call = Authsec_V1_CreateRegistrationTokenRequest()
            call.ttlSeconds = ttl.seconds
            call.uses = uses
            let created = try await connection.callAsAdmin(.createRegistrationToken(call)).registrationToken
            if connection.json {
                var object = RegistrationTokens.object(created.info)
                object["token"] = created.token
                say(ClientJSON.text(object))
                return
            }
            printTable(
                ["FIELD", "VALUE"],
                [
                    ["token", created.token], ["id", created.info.id],
                    ["expires_at", String(created.info.expiresAt)],
                    ["uses", created.info.usesLeft == 0 ? "unlimited" : String(created.info.usesLeft)],
                ])
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the tokens that have not expired (never the tokens themselves).")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let tokens = try await connection.callAsAdmin(.listRegistrationTokens(.init())).registrationTokens.tokens
            if connection.json {
                say(ClientJSON.text(["registration_tokens": tokens.map(RegistrationTokens.object)]))
                return
            }
            printTable(
                ["ID", "EXPIRES_AT", "USES_LEFT", "CREATED_BY"],
                tokens.map {
                    [$0.id, String($0.expiresAt), $0.usesLeft == 0 ? "unlimited" : String($0.usesLeft), $0.createdBy]
                })
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by its id.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The token's id (iat_…), as listed.") var id: String

        func run() async throws {
            var call = Authsec_V1_RevokeRegistrationTokenRequest()
            call.id = id
            _ = try await connection.callAsAdmin(.revokeRegistrationToken(call))
            if connection.json {
                say(ClientJSON.text(["revoked": id]))
            } else {
                say("revoked \(id)")
            }
        }
    }
}
