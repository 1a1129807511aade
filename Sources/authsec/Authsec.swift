import ArgumentParser
import Foundation

@main
struct Authsec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authsec",
        abstract: "OAuth 2.1 / OpenID Connect authorization server for AI clients, with its admin CLI.",
        subcommands: [
            Serve.self, Init.self, Clients.self, Scopes.self, Keys.self, Users.self, RegistrationTokens.self, Trust.self,
            TokenCommand.self,
            IntrospectCommand.self, RevokeCommand.self, QuotaCommand.self, UsageCommand.self, AuditCommand.self,
            Bench.self,
        ]
    )
}

/// Writes a line to stdout at once (tests and scripts read it through a pipe). When the reader
/// has gone (`authsec audit | head`), exits as a tool killed by SIGPIPE would, without a trace.
func say(_ line: String) {
    do {
        try FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8))
    } catch {
        exit(141)
    }
}

/// Writes a line to stderr.
func warn(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
