import Authority
import NIOCore

/// Settings of `authsec serve`; every field has a command-line flag.
public struct ServerConfiguration: Sendable {
    public var dataDirectory = "./authsec-data"
    /// The master key file (`--master-key-file`); when nil, `master.key` in the data directory.
    public var masterKeyFile: String?
    public var httpHost = "127.0.0.1"
    public var httpPort = 8080
    public var wireHost = "127.0.0.1"
    public var wirePort = 7070
    /// The issuer URL; when nil it is the bound HTTP door's `http://HOST:PORT` (`https://` with TLS).
    public var issuer: String?
    /// When set, both doors speak only TLS with this certificate and key (reloaded on SIGHUP).
    public var tls: ServerTLS.Files?
    public var mapSize = 16 << 30
    public var maxFrameSize = 1 << 20
    public var maxInFlightPerConnection = 256
    /// 1 turns write batching off (one commit per write), for comparisons only.
    public var maxWriteBatch = 1024
    public var maxBodySize = 64 * 1024
    /// A connection to either door that sends nothing this long is closed.
    public var idleTimeout = TimeAmount.minutes(5)
    /// A request (wire frame, HTTP head and body) that was started must be complete within this.
    public var requestDeadline = TimeAmount.seconds(10)
    /// Open connections per door, in all and from one client address.
    public var maxConnections = 4096
    public var maxConnectionsPerAddress = 512
    /// Event-loop threads of the wire door.
    public var wireThreads = System.coreCount
    /// Lets URLs fetched on a client's behalf (`jwks_uri`) be http and reach loopback and
    /// private addresses: for development and tests only (`--allow-insecure-client-metadata`).
    public var allowsInsecureClientMetadata = false
    /// Address ranges (CIDR) that may read `/metrics`; empty means loopback only.
    public var metricsAllow: [String] = []
    /// Seconds after midnight UTC at which a quota day (`tokens_per_day`) starts.
    public var quotaDayStart: Int64 = 0
    /// Seconds audit events and client versions are kept; 0 keeps none (`--audit-retention`).
    public var auditRetention: Int64 = Authority.defaultAuditRetention
    /// `--open-registration`, `--registration-scopes`, `--registration-ttl`.
    public var registration = RegistrationPolicy()

    public init() {}

    var connectionLimits: ConnectionLimiter.Limits {
        ConnectionLimiter.Limits(total: maxConnections, perAddress: maxConnectionsPerAddress)
    }

    /// A wildcard address serves every interface, so no single `http://HOST:PORT` names it.
    public var needsExplicitIssuer: Bool {
        issuer == nil && ["0.0.0.0", "::", "[::]", ""].contains(httpHost)
    }
}
