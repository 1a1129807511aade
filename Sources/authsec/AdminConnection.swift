import ArgumentParser
import Foundation
import Wire

/// Where the server is and who the caller is; shared by every command that speaks the wire protocol.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Wire address HOST:PORT (default: $AUTHSEC_ADDRESS, else 127.0.0.1:7070).")
    var address: String?

    @Option(name: .customLong("client-id"), help: "Caller's client id (default: $AUTHSEC_CLIENT_ID).")
    var clientID: String?

    @Option(name: .customLong("client-secret"), help: "Caller's client secret (default: $AUTHSEC_CLIENT_SECRET).")
    var clientSecret: String?

    @Option(
        name: .customLong("ca-file"),
        help: ArgumentHelp(
            "Speak TLS to the wire door, trusting only the CA certificates in this PEM file (default: $AUTHSEC_CA_FILE).",
            valueName: "file"))
    var caFile: String?

    @Flag(help: "Speak TLS to the wire door, trusting the system's CA store (implied by --ca-file).")
    var tls = false

    @Flag(help: "Print JSON for scripts instead of tables.")
    var json = false

    @Option(
        help: "How long to wait for each answer before giving up, e.g. 30s (in bench: a call this late fails the run).")
    var timeout = DurationArgument(argument: "30s")!

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// `--address`, else `AUTHSEC_ADDRESS`.
    var explicitAddress: String? { address ?? environment["AUTHSEC_ADDRESS"].flatMap { $0.isEmpty ? nil : $0 } }

    /// The product page's `AUTHSEC_DOMAIN` (a host or an issuer URL), used when no address is given.
    var domain: String? { environment["AUTHSEC_DOMAIN"].flatMap { $0.isEmpty ? nil : $0 } }

    /// The wire door as given, for messages.
    var resolvedAddress: String {
        explicitAddress ?? domain.map { "AUTHSEC_DOMAIN \($0)" } ?? "127.0.0.1:7070"
    }

    func credentials() throws -> (id: String, secret: String) {
        guard let id = clientID ?? environment["AUTHSEC_CLIENT_ID"], !id.isEmpty,
            let secret = clientSecret ?? environment["AUTHSEC_CLIENT_SECRET"], !secret.isEmpty
        else {
            warn(
                "error: no caller credentials: give --client-id and --client-secret, or set AUTHSEC_CLIENT_ID and AUTHSEC_CLIENT_SECRET"
            )
            throw ExitCode.failure
        }
        return (id, secret)
    }

    /// Basic credentials for token, introspect and revoke calls (RFC 6749 §2.3.1 form-encoding).
    func basicAuthorization() throws -> String {
        let (id, secret) = try credentials()
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let pair =
            (id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id) + ":"
            + (secret.addingPercentEncoding(withAllowedCharacters: allowed) ?? secret)
        return "Basic " + Data(pair.utf8).base64EncodedString()
    }

    /// The wire door: `--address`, else `AUTHSEC_ADDRESS`, else the door `AUTHSEC_DOMAIN`'s
    /// metadata advertises (`authsec_wire_address`), else 127.0.0.1:7070. Host without IPv6 brackets.
    func hostAndPort() async throws -> (host: String, port: Int) {
        if explicitAddress == nil, let domain {
            do {
                return try await WireDiscovery.wireAddress(
                    domain: domain, caFile: resolvedCAFile, timeout: .seconds(min(timeout.seconds, 5)))
            } catch {
                warn("error: AUTHSEC_DOMAIN \(domain): \(error)")
                throw ExitCode.failure
            }
        }
        let address = explicitAddress ?? "127.0.0.1:7070"
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            warn("error: address '\(address)' is not HOST:PORT")
            throw ExitCode.failure
        }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    /// The CA file to trust: `--ca-file`, else a non-empty `AUTHSEC_CA_FILE`.
    var resolvedCAFile: String? {
        caFile ?? environment["AUTHSEC_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// How to speak TLS to the wire door, or nil for plain TCP; built once per command.
    func wireTLS() throws -> WireClient.TLS? {
        if let path = resolvedCAFile {
            guard access(path, R_OK) == 0 else {
                warn("error: CA file \(path): \(String(cString: strerror(errno)))")
                throw ExitCode.failure
            }
            do {
                return try WireClient.TLS.trusting(caFile: path)
            } catch {
                warn("error: CA file \(path): no PEM certificate could be read from it")
                throw ExitCode.failure
            }
        }
        guard tls else { return nil }
        do {
            return try WireClient.TLS.systemTrust
        } catch {
            warn("error: --tls: cannot load the system's CA store (\(error))")
            throw ExitCode.failure
        }
    }

    func connect() async throws -> WireClient {
        try await connect(tls: try wireTLS())
    }

    /// Connects with `tls` (from `wireTLS()`), printing a clear error and exiting 1 on failure.
    func connect(tls: WireClient.TLS?) async throws -> WireClient {
        let (host, port) = try await hostAndPort()
        let address = explicitAddress ?? (host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        do {
            return try await WireClient.connect(host: host, port: port, tls: tls)
        } catch let error as WireError {
            // `error: 127.0.0.1:7070: TLS handshake failed: certificate verify failed`
            warn("error: \(address): \(error)")
            throw ExitCode.failure
        } catch {
            warn("error: cannot connect to \(address): \(error)")
            throw ExitCode.failure
        }
    }

    /// Sends one call authenticated with the caller's client credentials.
    func callWithClientCredentials(_ call: Authsec_V1_Request.OneOf_Call) async throws -> Authsec_V1_Response {
        let client = try await connect()
        defer { Task { await client.close() } }
        let request = Authsec_V1_Request(authorization: try basicAuthorization(), call: call)
        return try checked(try await send(request, on: client))
    }

    /// Sends one management call: first a client-credentials token, then the call as its bearer.
    func callAsAdmin(_ call: Authsec_V1_Request.OneOf_Call) async throws -> Authsec_V1_Response {
        try await withAdminSession { try await $0(call) }
    }

    /// Runs `body` with one connection and one management token for many calls (`audit --follow`);
    /// a token that expires on the way is replaced once.
    func withAdminSession<T>(
        _ body: (_ call: (Authsec_V1_Request.OneOf_Call) async throws -> Authsec_V1_Response) async throws -> T
    ) async throws -> T {
        let client = try await connect()
        defer { Task { await client.close() } }
        let tokenRequest = Authsec_V1_Request.managementToken(authorization: try basicAuthorization())
        var bearer = "Bearer " + (try checked(try await send(tokenRequest, on: client)).token.accessToken)
        return try await body { call in
            var response = try await send(Authsec_V1_Request(authorization: bearer, call: call), on: client)
            if response.status.error == "invalid_token" {
                bearer = "Bearer " + (try checked(try await send(tokenRequest, on: client)).token.accessToken)
                response = try await send(Authsec_V1_Request(authorization: bearer, call: call), on: client)
            }
            return try checked(response)
        }
    }

    private func send(_ request: Authsec_V1_Request, on client: WireClient) async throws -> Authsec_V1_Response {
        do {
            return try await client.call(request, timeout: .seconds(timeout.seconds))
        } catch WireError.serverSpeaksTLS {
            warn(
                "error: \(resolvedAddress): the server speaks TLS; give --ca-file FILE (or set AUTHSEC_CA_FILE) or --tls"
            )
            throw ExitCode.failure
        } catch {
            warn("error: \(resolvedAddress): \(error)")
            throw ExitCode.failure
        }
    }

    /// The response, or an error line and exit status 1 for a non-OK status.
    private func checked(_ response: Authsec_V1_Response) throws -> Authsec_V1_Response {
        guard response.status.code == .ok else {
            let status = response.status
            let name = String(describing: status.code).reduce(into: "") { out, character in
                if character.isUppercase { out += "_" }
                out += character.uppercased()
            }
            warn("error: \(name)\(status.error.isEmpty ? "" : " \(status.error)"): \(status.message)")
            throw ExitCode.failure
        }
        return response
    }
}

/// `--page-size`, `--page-token` and `--all` of the list commands, and the paging they drive.
struct PageOptions: ParsableArguments {
    @Option(name: .customLong("page-size"), help: "Items per page (at most 500).") var pageSize: UInt32 = 50
    @Option(name: .customLong("page-token"), help: "Token printed by the previous page.") var pageToken: String?
    @Flag(help: "Fetch every page.") var all = false

    func validate() throws {
        guard (1...500).contains(pageSize) else { throw ValidationError("--page-size must be between 1 and 500") }
    }

    /// The items of one page, or of every page with `--all`, and the token of the page after them
    /// (empty when there is none). `fetch` gets one page: (page size, page token) → (items, next token).
    func collect<Item>(_ fetch: (UInt32, String) async throws -> ([Item], String)) async throws -> ([Item], String) {
        var items: [Item] = []
        var token = pageToken ?? ""
        repeat {
            let (page, next) = try await fetch(pageSize, token)
            items += page
            token = next
        } while all && !token.isEmpty
        return (items, token)
    }
}

/// Prints rows as aligned columns; without a header, just the rows (a page after the first).
func printTable(_ header: [String]?, _ rows: [[String]]) {
    let all = (header.map { [$0] } ?? []) + rows
    guard let columns = all.first?.indices else { return }
    let widths = columns.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        say(
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            .joined(separator: "  "))
    }
}

/// `30m`, `1h`, `3600s` or bare seconds, for duration options.
struct DurationArgument: ExpressibleByArgument, CustomStringConvertible {
    let seconds: Int64
    /// As written, for `--help`.
    let description: String

    init?(argument: String) {
        guard let seconds = DurationParsing.seconds(argument) else { return nil }
        self.seconds = seconds
        self.description = argument
    }
}

import Authority

typealias DurationParsing = DurationText
