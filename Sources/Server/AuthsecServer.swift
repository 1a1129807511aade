import Authority
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Store
import Wire

/// `authsec serve`: opens the store (initializing an empty one), starts both doors, and shuts
/// down gracefully on SIGINT/SIGTERM (in-flight requests finish, then the store closes). With
/// TLS, SIGHUP reloads the certificate and key.
public enum AuthsecServer {
    public static let version = "0.1.0"

    public struct StartError: Error, CustomStringConvertible {
        public let description: String

        /// A door that could not bind its address, e.g. `http: cannot listen on 127.0.0.1:8080:
        /// Address already in use`.
        static func cannotListen(_ door: String, _ host: String, _ port: Int, _ error: IOError) -> StartError {
            StartError(
                description:
                    "\(door): cannot listen on \(hostForURL(host)):\(port): \(String(cString: strerror(error.errnoCode)))"
            )
        }
    }

    /// Opens the store in `directory`, turning a held lock into a clear message.
    public static func openStore(
        _ directory: String, mapSize: Int, maxBatch: Int = 1024,
        commitObserver: (@Sendable (Int, UInt64) -> Void)? = nil
    ) throws -> Store {
        var configuration = Store.Configuration(
            directory: directory, schema: Keyspace.schema, mapSize: mapSize, maxBatch: maxBatch)
        configuration.commitObserver = commitObserver
        do {
            return try Store(configuration: configuration)
        } catch let error as StoreError where error.code == .locked {
            throw StartError(description: "\(error.message); stop it first or use another --data directory")
        }
    }

    /// Runs until a shutdown signal. `say` receives the lines meant for the operator (stdout).
    public static func run(_ configuration: ServerConfiguration, say: @escaping @Sendable (String) -> Void) async throws
    {
        if configuration.needsExplicitIssuer {
            throw StartError(
                description:
                    "--http binds \(configuration.httpHost), which is every interface: give --issuer with the public URL"
            )
        }
        let logger = {
            var logger = Logger(label: "authsec")
            logger.logLevel = .info
            return logger
        }()
        // Before the store: a bad certificate is a start-up error, not a half-started server.
        let tls: ServerTLS?
        do {
            tls = try configuration.tls.map { try ServerTLS(files: $0) }
        } catch {
            throw StartError(description: "--tls-cert/--tls-key: \(error)")
        }
        let scheme = tls == nil ? "http" : "https"
        let metricsAccess: MetricsAccess
        do {
            metricsAccess = try MetricsAccess(cidrs: configuration.metricsAllow)
        } catch {
            throw StartError(description: "\(error)")
        }
        let metrics = ServerMetrics()
        let masterKey = MasterKeyFile(
            explicitPath: configuration.masterKeyFile, dataDirectory: configuration.dataDirectory)
        let (store, sealingKey) = try await openPrepared(
            configuration, masterKey: masterKey, metrics: metrics, say: say)
        defer { store.close() }
        let cell = AuthorityCell()
        let wireAddress = WireAddressCell()
        let shim = HTTPShim(
            authority: cell, logger: logger, maxBodySize: configuration.maxBodySize, wireAddress: wireAddress,
            metrics: metrics, metricsAccess: metricsAccess)
        if configuration.allowsInsecureClientMetadata {
            logger.warning(
                "--allow-insecure-client-metadata: client URLs may be http and reach loopback and private addresses; for development and tests only"
            )
        }
        let fetcher = SafeFetcher(
            configuration: .init(allowsInsecureTargets: configuration.allowsInsecureClientMetadata))
        let keyResolver = JWKSFetcher(fetcher: fetcher, logger: logger)
        let documentResolver = ClientDocumentFetcher(fetcher: fetcher, logger: logger)
        let app = Application(
            router: shim.router(),
            server: .authsec(
                shim: shim, idleTimeout: configuration.idleTimeout, requestDeadline: configuration.requestDeadline,
                connections: configuration.connectionLimits, tls: tls),
            configuration: .init(
                address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.httpPort
                let issuer = configuration.issuer ?? "\(scheme)://\(hostForURL(configuration.httpHost)):\(port)"
                do {
                    let authority = try Authority(
                        store: store, issuer: issuer, sealingKey: sealingKey, keyResolver: keyResolver,
                        documentResolver: documentResolver,
                        quotaDayStart: configuration.quotaDayStart, auditRetention: configuration.auditRetention,
                        registrationPolicy: configuration.registration)
                    cell.set(authority)
                    say(
                        "http listening on \(scheme)://\(hostForURL(configuration.httpHost)):\(port) (issuer \(authority.issuer))"
                    )
                } catch {
                    logger.critical("cannot start Authority", metadata: ["error": "\(error)"])
                    cell.fail(error)  // ends the wire door, and with it the service group
                }
            },
            logger: logger
        )
        let wire = WireDoor(
            configuration: configuration, cell: cell, wireAddress: wireAddress, tls: tls, metrics: metrics.wire,
            logger: logger, say: say)
        var services: [any Service] = [app, wire]
        if let tls {
            say("tls: \(tls.files.certificate): \(tls.summary); SIGHUP reloads it")
            services.append(await TLSReloader.trapping(tls: tls, logger: logger))
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A client that never lets go cannot hold shutdown open forever.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(15)
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        // Hummingbird's connection tasks inherit this: HTTP handlers run on the event loop that
        // read the request, not on the global pool.
        do {
            try await withTaskExecutorPreference(EventLoopTaskExecutor.following(MultiThreadedEventLoopGroup.singleton))
            {
                try await group.run()
            }
        } catch let error as IOError where error.isBindFailure {
            // The wire door names its own bind failures; this one is Hummingbird's.
            throw StartError.cannotListen("http", configuration.httpHost, configuration.httpPort, error)
        }
        say("shut down cleanly")
    }

    /// Opens the store ready to serve: initialized (an empty one) or migrated (an older one), its
    /// master key read (or made, for a store with nothing sealed yet) and checked to open every
    /// signing key, so a wrong key ends the start before either door opens.
    static func openPrepared(
        _ configuration: ServerConfiguration, masterKey: MasterKeyFile, metrics: ServerMetrics,
        say: @escaping @Sendable (String) -> Void
    ) async throws -> (Store, SealingKey) {
        let open = {
            try openStore(
                configuration.dataDirectory, mapSize: configuration.mapSize, maxBatch: configuration.maxWriteBatch,
                commitObserver: { mutations, nanoseconds in
                    metrics.batchSize.record(mutations)
                    metrics.commitDuration.recordNanoseconds(Int64(truncatingIfNeeded: nanoseconds))
                })
        }
        var store = try open()
        do {
            let sealingKey = try masterKey.key(for: store, say: say)
            if try !Authority.isInitialized(store) {
                let admin = try await Authority.initialize(store, sealingKey: sealingKey)
                say("initialized \(configuration.dataDirectory)")
                say("admin client (shown once; keep the secret safe):")
                say("  client_id:     \(admin.clientID)")
                say("  client_secret: \(admin.clientSecret)")
            }
            let applied = try await Authority.migrate(store, sealingKey: sealingKey)
            for version in applied {
                say("migrated \(configuration.dataDirectory) to schema version \(version)")
            }
            if applied.contains(Keyspace.firstSealedVersion) {
                store.close()
                compactAfterSealing(store.configuration, masterKey: masterKey, say: say)
                store = try open()
            }
            try masterKey.check(sealingKey, opens: store)
            return (store, sealingKey)
        } catch {
            store.close()
            throw error
        }
    }

    /// After the migration sealed the raw signing keys, rewrites data.mdb without the free pages
    /// that still hold them (LMDB does not scrub freed pages). Older backups keep them raw, which
    /// only retiring the keys helps; a failed compaction is reported, not fatal: the store is
    /// whole either way.
    static func compactAfterSealing(
        _ storeConfiguration: Store.Configuration, masterKey: MasterKeyFile, say: (String) -> Void
    ) {
        let file = storeConfiguration.directory + "/data.mdb"
        do {
            try Store.compact(configuration: storeConfiguration)
            say(
                "signing keys are now sealed with master key \(masterKey.path) and \(file) is compacted, so none is left there raw; older backups still hold them raw: retire them with `authsec keys rotate`"
            )
        } catch {
            say(
                "warning: cannot compact \(file) (\(error)): the raw signing keys may linger in its free pages, as they do in older backups: retire them with `authsec keys rotate`"
            )
        }
    }

    static func hostForURL(_ host: String) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    }
}

/// The wire door as a lifecycle service: binds once Authority exists, drains on shutdown.
struct WireDoor: Service {
    let configuration: ServerConfiguration
    let cell: AuthorityCell
    let wireAddress: WireAddressCell
    let tls: ServerTLS?
    let metrics: ServerMetrics.DoorSeries
    let logger: Logger
    let say: @Sendable (String) -> Void

    func run() async throws {
        let authority = try await cell.ready()
        let service = WireService(authority: authority, logger: logger, version: AuthsecServer.version)
        var limits = WireListener.Limits()
        limits.maxFrameSize = configuration.maxFrameSize
        limits.maxInFlightPerConnection = configuration.maxInFlightPerConnection
        limits.idleTimeout = configuration.idleTimeout
        limits.requestDeadline = configuration.requestDeadline
        limits.connections = configuration.connectionLimits
        let listener: WireListener
        do {
            listener = try await WireListener.bind(
                host: configuration.wireHost, port: configuration.wirePort, threads: configuration.wireThreads,
                service: service, limits: limits, tls: tls, metrics: metrics, logger: logger)
        } catch let error as IOError where error.isBindFailure {
            throw AuthsecServer.StartError.cannotListen("wire", configuration.wireHost, configuration.wirePort, error)
        }
        let port = listener.localAddress?.port ?? configuration.wirePort
        wireAddress.set(
            WireAddressCell.advertised(boundHost: configuration.wireHost, port: port, issuer: authority.issuer))
        say(
            "wire listening on \(AuthsecServer.hostForURL(configuration.wireHost)):\(port)\(tls == nil ? "" : " (TLS)")"
        )
        // Until shutdown, purge expired revocation records once a minute.
        let purger = Task {
            while (try? await Task.sleep(for: .seconds(60))) != nil {
                do {
                    try await authority.purgeExpired()
                } catch {
                    logger.warning("purging expired records failed", metadata: ["error": "\(error)"])
                }
            }
        }
        // Every second, the counters (quota spend, rate-limit times) reach the store: a crash
        // forgets at most that second.
        let flusher = Task {
            while (try? await Task.sleep(for: .seconds(1))) != nil {
                do {
                    try await authority.flushCounters()
                } catch {
                    logger.warning("flushing counters failed", metadata: ["error": "\(error)"])
                }
            }
        }
        try? await gracefulShutdown()
        purger.cancel()
        flusher.cancel()
        await listener.shutdown()
        do {
            try await authority.flushCounters()
        } catch {
            logger.error("flushing counters at shutdown failed", metadata: ["error": "\(error)"])
        }
    }
}

extension IOError {
    /// A listening socket that could not be bound: the address is taken, foreign or forbidden.
    var isBindFailure: Bool { [EADDRINUSE, EADDRNOTAVAIL, EACCES].contains(errnoCode) }
}
