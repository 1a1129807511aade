import Authority
import Dispatch
import Metrics
import Prometheus
import Wire

/// The server's metrics, made through swift-metrics with a Prometheus factory of its own (no
/// global bootstrap, so servers in one process keep theirs apart) and served at `/metrics`.
///
/// Every label set is fixed when the server starts: door × call, door × error code, door. No
/// label ever holds a token, a client id or an address, so the series cannot grow with traffic.
final class ServerMetrics: Sendable {
    /// What a request asked for, as the `call` label spells it.
    enum Call: Int, CaseIterable, Sendable {
        case token, introspect, revoke, charge, management, serverInfo, metadata, jwks, health, metrics, other

        var label: String { Self.labels[rawValue] }
        private static let labels = [
            "token", "introspect", "revoke", "charge", "management", "server_info", "metadata", "jwks", "health",
            "metrics",
            "other",
        ]
    }

    /// One door's series.
    struct DoorSeries: Sendable {
        /// `authsec_requests_total` and `authsec_request_duration_seconds`, kept per thread.
        let requests: RequestStats
        let errors: [String: Metrics.Counter]
        let connections: Metrics.Meter
        let refusedConnections: Metrics.Counter

        init(door: CallContext.Door, factory: PrometheusMetricsFactory) {
            let name = [("door", door.rawValue)]
            requests = RequestStats(door: door.rawValue)
            var errors: [String: Metrics.Counter] = [:]
            for code in AuthorityError.Code.allCases.map(\.rawValue) + [ServerMetrics.otherError] {
                errors[code] = Metrics.Counter(
                    label: "authsec_errors_total", dimensions: name + [("code", code)], factory: factory)
            }
            self.errors = errors
            connections = Metrics.Meter(label: "authsec_open_connections", dimensions: name, factory: factory)
            refusedConnections = Metrics.Counter(
                label: "authsec_refused_connections_total", dimensions: name, factory: factory)
        }

        /// Counts one answered request of `call` begun at `started` (`DispatchTime` ns), and its
        /// error code if any; and counts it in `RequestFlow`, which password hashing watches.
        func record(_ call: Call, since started: UInt64, error: String?) {
            RequestFlow.shared.count()
            requests.record(call, nanoseconds: DispatchTime.now().uptimeNanoseconds &- started)
            if let error, !error.isEmpty { (errors[error] ?? errors[ServerMetrics.otherError])?.increment() }
        }
    }

    /// The `code` label of an error code no table names (a door-level refusal).
    static let otherError = "other"

    let registry = PrometheusCollectorRegistry()
    let wire: DoorSeries
    let http: DoorSeries
    let commitDuration: Metrics.Timer
    let batchSize: Metrics.Recorder

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Answers take microseconds; commits milliseconds.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
            .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        factory.defaultValueHistogramBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        wire = DoorSeries(door: .wire, factory: factory)
        http = DoorSeries(door: .http, factory: factory)
        commitDuration = Metrics.Timer(label: "authsec_store_commit_duration_seconds", factory: factory)
        batchSize = Metrics.Recorder(label: "authsec_store_batch_size", factory: factory)
    }

    func series(_ door: CallContext.Door) -> DoorSeries { door == .http ? http : wire }

    /// Everything, in Prometheus's text exposition format.
    func exposition() -> String {
        let (wireRequests, wireDurations) = wire.requests.exposition()
        let (httpRequests, httpDurations) = http.requests.exposition()
        return registry.emitToString() + "# TYPE authsec_requests_total counter\n" + wireRequests + httpRequests
            + "# TYPE authsec_request_duration_seconds histogram\n" + wireDurations + httpDurations
    }
}

extension ServerMetrics.Call {
    /// A wire call's label: management calls are one label, so the set stays small.
    init(_ call: Authsec_V1_Request.OneOf_Call?) {
        switch call {
        case .token: self = .token
        case .introspect: self = .introspect
        case .revoke: self = .revoke
        case .serverInfo: self = .serverInfo
        case .charge: self = .charge
        case nil: self = .other
        default: self = .management
        }
    }

    /// An HTTP path's label.
    init(path: String) {
        switch path {
        case "/oauth/token": self = .token
        case "/oauth/introspect": self = .introspect
        case "/oauth/revoke": self = .revoke
        case "/quota/charge": self = .charge
        case "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration": self = .metadata
        case "/.well-known/jwks.json": self = .jwks
        case "/healthz": self = .health
        case "/metrics": self = .metrics
        default: self = .other
        }
    }
}
