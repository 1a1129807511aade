import ArgumentParser
import Foundation

@main
struct Authsec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authsec",
        abstract: "OAuth 2.1 / OpenID Connect authorization server for AI clients, with its admin CLI.",
        subcommands: [
            Serve.self, Init.self, Clients.self, Scopes.self, Keys.self, Users.self, TokenCommand.self,
            IntrospectCommand.self,
            RevokeCommand.self, QuotaCommand.self, Bench.self,
        ]
    )
}

/// Writes a line to stdout at once (tests and scripts read it through a pipe).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Writes a line to stderr.
func warn(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
