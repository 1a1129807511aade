import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// The one way the server fetches a URL on a client's behalf (`jwks_uri` today, Client ID
/// Metadata Documents next): a small HTTP/1.1 GET client that refuses what an attacker
/// registering a client would use to turn the server against its own network.
///
/// - https only (http with `allowsInsecureTargets`); no redirects: a 3xx is a failure, and
///   only a 200 succeeds.
/// - The host is resolved once, off the event loop, and **every** address it resolves to must
///   be public (``AddressPolicy``); the connection goes to one of exactly those addresses, so
///   a DNS answer that changes after the check (rebinding) cannot redirect it. TLS sends SNI
///   and verifies the certificate chain and the host name from the URL.
/// - One deadline covers resolving, connecting, the TLS handshake, the headers and the body;
///   the body has a size cap. Both are per use (`Limits`).
/// - One fetch in flight per URL: concurrent callers for the same URL share it.
///
/// AsyncHTTPClient is not used here because it resolves and follows redirects on its own,
/// after any check we could make.
final class SafeFetcher: Sendable {
    struct Configuration: Sendable {
        /// `--allow-insecure-client-metadata`: http URLs, and loopback and private addresses,
        /// for development and tests.
        var allowsInsecureTargets = false
        /// Trust anchors for https: the system's. Tests substitute their own CA.
        var trustRoots = NIOSSLTrustRoots.default
        var userAgent = "authsec/\(AuthsecServer.version)"

        init(allowsInsecureTargets: Bool = false) {
            self.allowsInsecureTargets = allowsInsecureTargets
        }
    }

    /// How long and how much one use may take.
    struct Limits: Sendable {
        /// Covers resolve, connect, TLS handshake, headers and body.
        var deadline: Duration
        var maxBytes: Int

        /// A client's JWK Set: 2 s, 64 KiB.
        static let jwksURI = Limits(deadline: .seconds(2), maxBytes: 64 * 1024)
        /// A Client ID Metadata Document: 5 s, 5 KB.
        static let clientMetadata = Limits(deadline: .seconds(5), maxBytes: 5 * 1024)
    }

    let configuration: Configuration
    private let policy: AddressPolicy
    private let tls: Result<NIOSSLContext, FetchError>
    private let eventLoopGroup: any EventLoopGroup
    private let inFlight = Mutex<[String: Task<FetchedDocument, any Error>]>([:])

    init(
        configuration: Configuration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        policy = AddressPolicy(allowsPrivateNetworks: configuration.allowsInsecureTargets)
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        tlsConfiguration.minimumTLSVersion = .tlsv12
        tlsConfiguration.certificateVerification = .fullVerification
        tlsConfiguration.trustRoots = configuration.trustRoots
        tlsConfiguration.applicationProtocols = ["http/1.1"]
        do {
            tls = .success(try NIOSSLContext(configuration: tlsConfiguration))
        } catch {
            tls = .failure(FetchError(.tlsFailed, "cannot set up TLS: \(error)"))
        }
    }

    /// Fetches `url` and returns its body.
    ///
    /// A caller that arrives while the same URL is being fetched waits for that fetch instead of
    /// starting another, so its deadline is the first caller's; its own size cap still applies
    /// to the shared body.
    /// - Parameter accept: the `Accept` header, e.g. `application/jwk-set+json, application/json`.
    /// - Throws: `FetchError` for every failure, with a reason for the log.
    func fetch(_ url: String, accept: String, limits: Limits) async throws(FetchError) -> [UInt8] {
        try await fetchDocument(url, accept: accept, limits: limits).body
    }

    /// `fetch`, with what the response's `Cache-Control` says about keeping it.
    func fetchDocument(_ url: String, accept: String, limits: Limits) async throws(FetchError) -> FetchedDocument {
        let parsed = try FetchURL(url, allowsHTTP: configuration.allowsInsecureTargets)
        let context: NIOSSLContext?
        if parsed.usesTLS {
            context = try tls.get()
        } else {
            context = nil
        }
        let setup = FetchAttempt.Setup(
            url: parsed, policy: policy, tls: context, deadline: .init(limits.deadline), maxBytes: limits.maxBytes,
            accept: accept, userAgent: configuration.userAgent)
        let task = inFlight.withLock { flights in
            if let running = flights[url] { return running }
            // Created and recorded under the lock: the task's own removal below takes the same
            // lock, so it cannot run before the task is recorded and leave a finished one behind.
            let task = Task {
                defer { _ = self.inFlight.withLock { $0.removeValue(forKey: url) } }
                return try await FetchAttempt.run(setup, on: self.eventLoopGroup.next()).get()
            }
            flights[url] = task
            return task
        }
        let document: FetchedDocument
        do {
            document = try await task.value
        } catch let error as FetchError {
            throw error
        } catch {
            throw FetchError(.connectionFailed, "\(error)")
        }
        guard document.body.count <= limits.maxBytes else {
            throw FetchError(.tooLarge, "body of \(document.body.count) bytes passed the cap of \(limits.maxBytes)")
        }
        return document
    }

    /// How many fetches are in flight (for tests).
    var inFlightCount: Int { inFlight.withLock { $0.count } }
}

extension TimeAmount {
    /// A `Duration` as NIO's nanoseconds, saturating rather than overflowing.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        self = .nanoseconds(overflow ? .max : scaled.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue)
    }
}
