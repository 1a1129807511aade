import ArgumentParser
import Foundation
import Wire

struct Scopes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the scope registry (needs admin:scopes).", subcommands: [Create.self, List.self, Delete.self])

    static func object(_ scope: Authsec_V1_Scope) -> [String: Any] {
        ["name": scope.name, "description": scope.description_p, "created_at": scope.createdAt]
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a scope, e.g. ai:conversations.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Scope name.") var name: String
        @Option(help: "What the scope grants.") var description = ""

        func run() async throws {
            var call = Authsec_V1_CreateScopeRequest()
            call.name = name
            call.description_p = description
            let scope = try await connection.callAsAdmin(.createScope(call)).scope.scope
            if connection.json {
                say(ClientJSON.text(Scopes.object(scope)))
            } else {
                say("created scope \(scope.name)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered scopes.")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let scopes = try await connection.callAsAdmin(.listScopes(Authsec_V1_ListScopesRequest())).scopes.scopes
            if connection.json {
                say(ClientJSON.text(["scopes": scopes.map(Scopes.object)]))
            } else {
                printTable(["SCOPE", "DESCRIPTION"], scopes.map { [$0.name, $0.description_p] })
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a scope.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Scope name.") var name: String

        func run() async throws {
            var call = Authsec_V1_DeleteScopeRequest()
            call.name = name
            _ = try await connection.callAsAdmin(.deleteScope(call))
            if connection.json {
                say(ClientJSON.text(["deleted": true, "name": name]))
            } else {
                say("deleted scope \(name)")
            }
        }
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and rotate signing keys (needs admin:keys).", subcommands: [List.self, Rotate.self])

    static func show(_ keys: [Authsec_V1_SigningKey], json: Bool) {
        func time(_ seconds: Int64) -> String {
            seconds == 0 ? "-" : ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
        }
        if json {
            say(
                ClientJSON.text([
                    "keys": keys.map {
                        [
                            "kid": $0.kid, "algorithm": $0.algorithm, "created_at": $0.createdAt,
                            "activates_at": $0.activatesAt,
                            "retired_at": $0.retiredAt, "expires_at": $0.expiresAt, "active": $0.isActive,
                        ] as [String: Any]
                    }
                ]))
            return
        }
        printTable(
            ["KID", "ALG", "ACTIVE", "ACTIVATES", "RETIRES", "LEAVES_JWKS"],
            keys.map {
                [
                    $0.kid, $0.algorithm, $0.isActive ? "yes" : "no", time($0.activatesAt), time($0.retiredAt),
                    time($0.expiresAt),
                ]
            })
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List signing keys.")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            Keys.show(
                try await connection.callAsAdmin(.listKeys(Authsec_V1_ListKeysRequest())).keys.keys,
                json: connection.json)
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a signing key; it signs at once, or after --activate-in while already published.")
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("activate-in"), help: "Publish now, sign from then on, e.g. 10m.") var activateIn:
            DurationArgument?

        func run() async throws {
            var call = Authsec_V1_RotateKeyRequest()
            call.activateIn = activateIn?.seconds ?? 0
            Keys.show(try await connection.callAsAdmin(.rotateKey(call)).keys.keys, json: connection.json)
        }
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Get an access token for the caller (client_credentials); prints the token.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Space-separated scopes (default: all the client is allowed).") var scope: String?
    @Option(help: "Audience / resource (repeat).") var audience: [String] = []

    func run() async throws {
        var call = Authsec_V1_TokenRequest()
        call.grantType = "client_credentials"
        call.scope = scope ?? ""
        call.audience = audience
        let token = try await connection.callWithClientCredentials(.token(call)).token
        if connection.json {
            say(
                ClientJSON.text([
                    "access_token": token.accessToken, "token_type": token.tokenType, "expires_in": token.expiresIn,
                    "scope": token.scope,
                ]))
        } else {
            say(token.accessToken)
        }
    }
}

struct IntrospectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "introspect", abstract: "Introspect a token (RFC 7662).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The token.") var token: String

    func run() async throws {
        var call = Authsec_V1_IntrospectRequest()
        call.token = token
        let result = try await connection.callWithClientCredentials(.introspect(call)).introspect
        var object: [String: Any] = ["active": result.active]
        if result.active {
            object["scope"] = result.scope
            object["client_id"] = result.clientID
            object["sub"] = result.sub
            object["aud"] = result.aud.count == 1 ? result.aud[0] as Any : result.aud as Any
            object["iss"] = result.iss
            object["exp"] = result.exp
            object["iat"] = result.iat
            object["jti"] = result.jti
            object["token_type"] = result.tokenType
        }
        if connection.json {
            say(ClientJSON.text(object))
        } else {
            printTable(["CLAIM", "VALUE"], object.keys.sorted().map { [$0, "\(object[$0]!)"] })
        }
    }
}

struct RevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token (RFC 7009).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The token.") var token: String

    func run() async throws {
        var call = Authsec_V1_RevokeRequest()
        call.token = token
        _ = try await connection.callWithClientCredentials(.revoke(call))
        if connection.json { say(ClientJSON.text(["revoked": true])) } else { say("revoked") }
    }
}
