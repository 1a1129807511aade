import ArgumentParser
import Authority
import Foundation
import Server
import Store

/// `HOST:PORT`, with `[v6]:PORT` for IPv6.
struct HostPort: ExpressibleByArgument, CustomStringConvertible {
    let host: String
    let port: Int
    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":"), let port = Int(argument[argument.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(argument[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }
}

/// A byte size: `16GiB`, `512MiB`, `1048576`.
struct ByteSize: ExpressibleByArgument, CustomStringConvertible {
    let bytes: Int
    var description: String {
        [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")].first { bytes % $0.0 == 0 }.map {
            "\(bytes / $0.0)\($0.1)"
        } ?? "\(bytes)"
    }

    init?(argument: String) {
        let units: [(String, Int)] = [
            ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10),
        ]
        for (suffix, multiplier) in units where argument.hasSuffix(suffix) {
            guard let value = Int(argument.dropLast(suffix.count)), value > 0 else { return nil }
            bytes = value * multiplier
            return
        }
        guard let value = Int(argument), value > 0 else { return nil }
        bytes = value
    }
}

struct DataOption: ParsableArguments {
    @Option(name: .long, help: "Data directory (created 0700 if missing).")
    var data = "./authsec-data"

    @Option(
        name: .customLong("master-key-file"),
        help: ArgumentHelp(
            "File holding the master key that seals the signing keys (default: DATA/master.key); created 0600 for a store that has none yet.",
            valueName: "file"))
    var masterKeyFile: String?
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server; initializes an empty data directory and prints the admin credentials once.")

    @OptionGroup var dataOption: DataOption

    @Option(help: "HTTP door address (port 0 picks a free port).")
    var http = HostPort(argument: "127.0.0.1:8080")!

    @Option(help: "Binary protocol door address (port 0 picks a free port).")
    var wire = HostPort(argument: "127.0.0.1:7070")!

    @Option(
        help:
            "Issuer URL; default http://HOST:PORT of the HTTP door (https:// with TLS). Required when binding 0.0.0.0 or ::."
    )
    var issuer: String?

    @Option(
        name: .customLong("tls-cert"),
        help: ArgumentHelp(
            "PEM certificate (then any intermediates) for TLS on both doors; needs --tls-key. SIGHUP reloads it.",
            valueName: "file"))
    var tlsCert: String?

    @Option(
        name: .customLong("tls-key"),
        help: ArgumentHelp("PEM private key of --tls-cert (unencrypted).", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("map-size"), help: "Largest size of the LMDB store (address space, not disk).")
    var mapSize = ByteSize(argument: "16GiB")!

    @Option(name: .customLong("max-frame-size"), help: "Largest accepted wire frame.")
    var maxFrameSize = ByteSize(argument: "1MiB")!

    @Option(
        name: .customLong("max-in-flight"),
        help: "Requests in flight per wire connection before the server stops reading.")
    var maxInFlight = 256

    @Option(name: .customLong("write-batch"), help: "Most writes per commit; 1 turns batching off (for comparisons).")
    var writeBatch = 1024

    @Option(
        name: .customLong("idle-timeout"),
        help: "Close a connection (either door) that sends nothing for this long, e.g. 5m.")
    var idleTimeout = DurationArgument(argument: "5m")!

    @Option(
        name: .customLong("request-deadline"),
        help: "Close a connection whose started request (wire frame, HTTP head and body) is not complete within this.")
    var requestDeadline = DurationArgument(argument: "10s")!

    @Option(name: .customLong("max-connections"), help: "Open connections per door.")
    var maxConnections = 4096

    @Option(
        name: .customLong("max-connections-per-address"), help: "Open connections per door from one client address.")
    var maxConnectionsPerAddress = 512

    @Option(
        name: .customLong("wire-threads"),
        help:
            "Event-loop threads of the wire door (default: one per core). Fewer keeps the latency tail short when other busy processes share the cores."
    )
    var wireThreads: Int?

    @Flag(
        name: .customLong("allow-insecure-client-metadata"),
        help:
            "Let URLs fetched for clients (jwks_uri) be http and reach loopback and private addresses. For development and tests only."
    )
    var allowInsecureClientMetadata = false

    @Flag(
        name: .customLong("open-registration"),
        help: "Let anyone register a client at /register (RFC 7591). Without it, an initial access token is needed.")
    var openRegistration = false

    @Option(
        name: .customLong("registration-scopes"),
        help: ArgumentHelp(
            "Space-separated scopes a registered client may be allowed (default: every registered scope that is not reserved, and openid profile email).",
            valueName: "SCOPES"))
    var registrationScopes: String?

    @Option(
        name: .customLong("registration-ttl"),
        help: ArgumentHelp(
            "Delete a client registered at /register once it has gone unused this long (30d, 12h, …).",
            valueName: "DURATION"))
    var registrationTTL = DurationArgument(argument: "30d")!

    @Option(
        name: .customLong("registrations-per-address"),
        help: "Registrations one client address may make at /register within 15 minutes before it must wait.")
    var registrationsPerAddress = 20

    @Option(
        name: .customLong("metrics-allow"),
        help: ArgumentHelp(
            "An address or CIDR range (10.0.0.0/8, fd00::/8) that may read /metrics; repeatable. Default: loopback only.",
            valueName: "CIDR"))
    var metricsAllow: [String] = []

    @Option(
        name: .customLong("quota-day-start"),
        help: ArgumentHelp(
            "When the quota day (rate_limits.tokens_per_day) starts, as HH:MM in UTC.", valueName: "HH:MM"))
    var quotaDayStart = "00:00"

    @Option(
        name: .customLong("audit-retention"),
        help: ArgumentHelp(
            "How long audit events and client versions are kept (30d, 12h, …); 0 turns the audit log off.",
            valueName: "DURATION"))
    var auditRetention = DurationArgument(argument: "30d")!

    /// `--quota-day-start` in seconds after midnight UTC, or nil if it is not HH:MM.
    var quotaDayStartSeconds: Int64? {
        let parts = quotaDayStart.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 }), let hours = Int64(parts[0]),
            let minutes = Int64(parts[1]), (0..<24).contains(hours), (0..<60).contains(minutes)
        else { return nil }
        return hours * 3600 + minutes * 60
    }

    func validate() throws {
        guard quotaDayStartSeconds != nil else {
            throw ValidationError("--quota-day-start must be HH:MM (UTC), such as 00:00 or 17:30")
        }
        if let issuer {
            guard let url = URL(string: issuer), let scheme = url.scheme, ["http", "https"].contains(scheme),
                url.host != nil,
                url.query == nil, url.fragment == nil
            else { throw ValidationError("--issuer must be an http(s) URL without query or fragment") }
        }
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together: give both, or neither")
        }
        guard maxInFlight > 0 else { throw ValidationError("--max-in-flight must be at least 1") }
        guard writeBatch > 0 else { throw ValidationError("--write-batch must be at least 1") }
        guard auditRetention.seconds <= 3650 * 86_400 else {
            throw ValidationError("--audit-retention must be at most 3650d")
        }
        guard idleTimeout.seconds > 0 else { throw ValidationError("--idle-timeout must be at least 1s") }
        guard requestDeadline.seconds > 0 else { throw ValidationError("--request-deadline must be at least 1s") }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be at least 1") }
        guard maxConnectionsPerAddress > 0 else {
            throw ValidationError("--max-connections-per-address must be at least 1")
        }
        guard (1...1_000_000).contains(registrationsPerAddress) else {
            throw ValidationError("--registrations-per-address must be between 1 and 1000000")
        }
        guard registrationTTL.seconds >= 60 else { throw ValidationError("--registration-ttl must be at least 1m") }
        if let registrationScopes, let problem = RegistrationPolicy.problem(withScopes: registrationScopes) {
            throw ValidationError("--registration-scopes: \(problem)")
        }
        if let wireThreads, !(1...256).contains(wireThreads) {
            throw ValidationError("--wire-threads must be between 1 and 256")
        }
    }

    func run() async throws {
        var configuration = ServerConfiguration()
        configuration.dataDirectory = dataOption.data
        configuration.masterKeyFile = dataOption.masterKeyFile
        configuration.httpHost = http.host
        configuration.httpPort = http.port
        configuration.wireHost = wire.host
        configuration.wirePort = wire.port
        configuration.issuer = issuer
        if let tlsCert, let tlsKey { configuration.tls = ServerTLS.Files(certificate: tlsCert, key: tlsKey) }
        configuration.mapSize = mapSize.bytes
        configuration.maxFrameSize = maxFrameSize.bytes
        configuration.maxInFlightPerConnection = maxInFlight
        configuration.maxWriteBatch = writeBatch
        if let wireThreads { configuration.wireThreads = wireThreads }
        configuration.idleTimeout = .seconds(idleTimeout.seconds)
        configuration.requestDeadline = .seconds(requestDeadline.seconds)
        configuration.maxConnections = maxConnections
        configuration.maxConnectionsPerAddress = maxConnectionsPerAddress
        configuration.allowsInsecureClientMetadata = allowInsecureClientMetadata
        configuration.metricsAllow = metricsAllow
        configuration.quotaDayStart = quotaDayStartSeconds ?? 0
        configuration.auditRetention = auditRetention.seconds
        configuration.registration = RegistrationPolicy(
            isOpen: openRegistration, scopes: registrationScopes.map { $0.split(separator: " ").map(String.init) },
            unusedLifetime: registrationTTL.seconds, registrationsPerAddress: registrationsPerAddress)
        do {
            try await AuthsecServer.run(configuration) { say($0) }
        } catch let error as AuthsecServer.StartError {
            warn("error: \(error.description)")
            throw ExitCode.failure
        } catch let error as StoreError {
            warn("error: \(error.message)")
            throw ExitCode.failure
        }
    }
}

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Initialize a data directory without serving; prints the admin client's credentials once.")

    @OptionGroup var dataOption: DataOption

    @Flag(help: "Print {\"client_id\": …, \"client_secret\": …}.")
    var json = false

    func run() async throws {
        let store: Store
        do {
            store = try AuthsecServer.openStore(dataOption.data, mapSize: 16 << 30)
        } catch {
            warn("error: \(error)")
            throw ExitCode.failure
        }
        defer { store.close() }
        do {
            if try Authority.isInitialized(store) {
                throw AuthorityError(.failedPrecondition, "the data directory is already initialized")
            }
            // With --json, stdout holds the JSON alone.
            let masterKey = MasterKeyFile(explicitPath: dataOption.masterKeyFile, dataDirectory: dataOption.data)
            let sealingKey = try masterKey.key(for: store, say: json ? warn : say)
            let admin = try await Authority.initialize(store, sealingKey: sealingKey)
            if json {
                say(#"{"client_id": "\#(admin.clientID)", "client_secret": "\#(admin.clientSecret)"}"#)
            } else {
                say("initialized \(dataOption.data)")
                say("admin client (shown once; keep the secret safe):")
                say("  client_id:     \(admin.clientID)")
                say("  client_secret: \(admin.clientSecret)")
            }
        } catch let error as AuthorityError {
            warn("error: \(dataOption.data): \(error.description)")
            throw ExitCode.failure
        } catch let error as AuthsecServer.StartError {
            warn("error: \(error.description)")
            throw ExitCode.failure
        }
    }
}
