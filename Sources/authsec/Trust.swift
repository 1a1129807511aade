import ArgumentParser
import Foundation
import Wire

/// `authsec trust`: identity providers whose ID-JAGs sign their people in to clients.
struct Trust: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Identity providers whose Identity Assertion JWT Authorization Grants (ID-JAG) Authsec accepts: enterprise-managed authorization (needs admin:users).",
        subcommands: [Add.self, List.self, Remove.self])

    static func object(_ issuer: Authsec_V1_TrustedIssuer) -> [String: Any] {
        [
            "issuer": issuer.issuer, "jwks_uri": issuer.jwksUri, "created_at": issuer.createdAt,
            "created_by": issuer.createdBy,
        ]
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Trust an identity provider's ID-JAGs, verified with the keys at --jwks-uri.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The identity provider's issuer identifier (an https URL).") var issuer: String
        @Option(name: .customLong("jwks-uri"), help: "Where the identity provider publishes its signing keys (https).")
        var jwksURI: String

        func run() async throws {
            var call = Authsec_V1_AddTrustedIssuerRequest()
            call.issuer = issuer
            call.jwksUri = jwksURI
            let added = try await connection.callAsAdmin(.addTrustedIssuer(call)).trustedIssuer.issuer
            if connection.json {
                say(ClientJSON.text(Trust.object(added)))
            } else {
                say("trusted \(added.issuer) (keys at \(added.jwksUri))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the trusted identity providers.")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let issuers = try await connection.callAsAdmin(.listTrustedIssuers(.init())).trustedIssuers.issuers
            if connection.json {
                say(ClientJSON.text(["trusted_issuers": issuers.map(Trust.object)]))
                return
            }
            printTable(["ISSUER", "JWKS_URI", "CREATED_BY"], issuers.map { [$0.issuer, $0.jwksUri, $0.createdBy] })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop trusting an identity provider.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The identity provider's issuer identifier, as added.") var issuer: String

        func run() async throws {
            var call = Authsec_V1_RemoveTrustedIssuerRequest()
            call.issuer = issuer
            _ = try await connection.callAsAdmin(.removeTrustedIssuer(call))
            if connection.json {
                say(ClientJSON.text(["removed": issuer]))
            } else {
                say("removed \(issuer)")
            }
        }
    }
}
