import ArgumentParser
import Authority
import Foundation
import Histogram
import NIOCore
import NIOPosix
import Synchronization
import Wire

/// `authsec bench`: a load generator for the wire door, like redis-benchmark or ghz.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load-test a running server over the wire protocol and report throughput and latency.",
        discussion: """
            Creates the clients and tokens it needs with the admin credentials and deletes its clients afterwards.
            A valid run has 0 errors; any error makes the exit status non-zero.
            """)

    enum Operation: String, ExpressibleByArgument, CaseIterable {
        case token, tokenDistinct = "token-distinct", tokenLimited = "token-limited", introspect,
            introspectDistinct = "introspect-distinct", revoke, createClient = "create-client", mixed, charge,
            chargeDistinct = "charge-distinct", codeExchange = "code-exchange", refresh, kdf
    }

    @OptionGroup var connection: ConnectionOptions
    @Option(
        help: """
            token | token-distinct | token-limited (a client with a rate limit far above the load) | introspect | \
            introspect-distinct | revoke | create-client | mixed | charge (one agent's quota, by a gateway) | \
            charge-distinct (across --clients agents) | code-exchange (codes minted through the HTTP pages, \
            at most 20,000: they live 60 s) | refresh (rotating chains, one per request in flight) | \
            kdf (no server: --requests password checks, default 10, at the server's bcrypt cost, one after \
            another in this process; the cost that bounds sign-ins)
            """)
    var op: Operation =
        .token
    @Option(help: "TCP connections.") var connections = 16
    @Option(help: "Requests in flight per connection (closed loop).") var pipeline = 16
    @Option(help: "How long to measure, e.g. 10s (default 10s unless --requests).") var duration: DurationArgument?
    @Option(help: "Stop after this many requests instead of a duration.") var requests: Int?
    @Option(help: "Open loop: a fixed total rate in requests/s; latency counts from each request's intended send time.")
    var rate: Int?
    @Option(help: "Unmeasured warm-up before the run, e.g. 2s.") var warmup = DurationArgument(argument: "2s")!
    @Option(help: "Distinct tokens to prepare for introspect-distinct, revoke and mixed.") var tokens = 100_000
    @Option(help: "Distinct clients to register for token-distinct and charge-distinct (each request takes the next).")
    var clients = 100_000
    @Option(help: "The HTTP door (issuer URL) for code-exchange and refresh; default: the issuer the server reports.")
    var issuer: String?
    @Flag(help: "Keep the clients create-client made (to seed a store for scale runs).")
    var keep = false
    @Option(
        help: """
            With --op refresh: prepare this many refresh chains, write the web client's Basic credentials \
            and then one refresh token per line to --chains-out, keep the client and user, and stop (for wrk).
            """)
    var chains: Int?
    @Option(help: "The file --chains writes.") var chainsOut: String?

    func validate() throws {
        guard connections > 0, pipeline > 0 else {
            throw ValidationError("--connections and --pipeline must be at least 1")
        }
        if let requests, requests <= 0 { throw ValidationError("--requests must be positive") }
        if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
        guard tokens > 0, clients > 0 else { throw ValidationError("--tokens and --clients must be positive") }
        if chains != nil || chainsOut != nil {
            guard op == .refresh, let chains, chains > 0, chainsOut != nil else {
                throw ValidationError("--chains N and --chains-out FILE go together, with --op refresh")
            }
        }
    }

    func run() async throws {
        if op == .kdf { return measureKDF() }
        let setup = try await BenchSetup.prepare(
            connection: connection, connections: connections, callTimeout: connection.timeout.seconds)
        let (host, port) = try await connection.hostAndPort()
        if let chains, let chainsOut {
            do {
                let (basic, tokens) = try await setup.refreshChains(chains, pipeline: pipeline, issuer: issuer)
                try ([basic] + tokens).joined(separator: "\n").appending("\n")
                    .write(toFile: chainsOut, atomically: true, encoding: .utf8)
                await setup.cleanup(keepingCreated: true)
                say("wrote \(tokens.count) refresh chains to \(chainsOut)")
                return
            } catch {
                await setup.cleanup()
                warn("error: \(error)")
                throw ExitCode.failure
            }
        }
        var report: BenchReport?
        var failure: Error?
        do {
            let workload = try await setup.workload(
                for: op, tokens: op == .revoke ? max(tokens, requests ?? 0) : tokens, distinctClients: clients,
                pipeline: pipeline, inFlight: connections * pipeline, issuer: issuer
            )
            let plan = LoadPlan(
                connections: connections, pipeline: pipeline,
                duration: Double(duration?.seconds ?? (requests == nil ? 10 : 3600)),
                requests: requests, rate: rate, timeout: .seconds(connection.timeout.seconds))
            if warmup.seconds > 0, op != .revoke, op != .createClient, op != .codeExchange {
                var warm = plan
                warm.duration = Double(warmup.seconds)
                warm.requests = nil
                _ = try await LoadRunner(host: host, port: port, tls: setup.tls, workload: workload, plan: warm).run()
            }
            report = try await LoadRunner(host: host, port: port, tls: setup.tls, workload: workload, plan: plan).run()
        } catch {
            failure = error
        }
        await setup.cleanup(keepingCreated: keep)
        if let failure {
            warn("error: \(failure)")
            throw ExitCode.failure
        }
        guard let report else { throw ExitCode.failure }
        report.print(op: op.rawValue, plan: (connections, pipeline, rate), json: connection.json)
        if report.errors > 0 {
            warn("error: \(report.errors) requests failed (first: \(report.firstError ?? "?")); a valid run has none")
            throw ExitCode.failure
        }
    }
}

extension Bench {
    /// `--op kdf`: one bcrypt check after another on this thread; prints their median and least.
    func measureKDF() {
        let cost = BcryptPasswordHasher.defaultCost
        let times = BcryptPasswordHasher.checkTimes(cost: cost, checks: requests ?? 10)
            .map { Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1000 }.sorted()
        let median = times[times.count / 2]
        let least = times[0]
        if connection.json {
            say(
                ClientJSON.text([
                    "op": "kdf", "bcrypt_cost": Int(cost), "checks": times.count,
                    "check_ms": ["p50": median, "min": least, "max": times[times.count - 1]],
                ]))
        } else {
            say(String(format: "bcrypt cost %d  %d checks  ms p50 %.1f  min %.1f", cost, times.count, median, least))
        }
    }
}

/// What one run asks for: how to build request number `n`, and how many there can be at most.
struct Workload: Sendable {
    let limit: Int?
    let request: @Sendable (Int) -> Authsec_V1_Request
    /// Sees every successful response (create-client records ids to delete afterwards).
    var observe: (@Sendable (Authsec_V1_Response) -> Void)? = nil
    /// When every request is the same one: that request, encoded once without its id, which each
    /// send puts in front (fields may come in any order). The generator then does not build and
    /// encode the same message a hundred thousand times a second on the cores it shares with the
    /// server.
    var encodedOnce: [UInt8]? = nil

    /// The same `request` every time.
    static func constant(_ request: Authsec_V1_Request) -> Workload {
        var unnumbered = request
        unnumbered.id = 0
        // Encoding a fully built message cannot fail (proto3 has no required fields).
        return Workload(limit: nil, request: { _ in request }, encodedOnce: try? unnumbered.serializedBytes())
    }
}

struct LoadPlan: Sendable {
    var connections: Int
    var pipeline: Int
    var duration: Double
    var requests: Int?
    var rate: Int?
    var timeout: TimeAmount
}

struct BenchReport: Sendable {
    var requests: Int
    var errors: Int
    var seconds: Double
    var latency: Histogram<UInt64>
    var firstError: String?

    var throughput: Double { seconds > 0 ? Double(requests) / seconds : 0 }

    func milliseconds(_ percentile: Double) -> Double { Double(latency.valueAtPercentile(percentile)) / 1000 }

    func print(op: String, plan: (connections: Int, pipeline: Int, rate: Int?), json: Bool) {
        let percentiles: [(String, Double)] = [("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)]
        if json {
            var latencyObject: [String: Double] = [:]
            for (name, value) in percentiles { latencyObject[name] = milliseconds(value) }
            latencyObject["max"] = Double(latency.max) / 1000
            var object: [String: Any] = [
                "op": op, "connections": plan.connections, "pipeline": plan.pipeline, "duration_s": seconds,
                "requests": requests, "errors": errors, "requests_per_second": throughput.rounded(),
                "latency_ms": latencyObject,
            ]
            if let rate = plan.rate { object["target_rate"] = rate }
            say(ClientJSON.text(object))
            return
        }
        say(
            "op \(op)  connections \(plan.connections)  pipeline \(plan.pipeline)\(plan.rate.map { "  rate \($0)/s (open loop)" } ?? "")"
        )
        say(String(format: "requests %d  errors %d  %.1f s  %.0f req/s", requests, errors, seconds, throughput))
        say(
            "latency ms  "
                + percentiles.map { String(format: "%@ %.3f", $0.0, milliseconds($0.1)) }.joined(separator: "  ")
                + String(format: "  max %.3f", Double(latency.max) / 1000))
    }
}

/// Drives the load over connections of its own: a closed loop of `pipeline` requests in flight per
/// connection, or an open loop at `rate` spread evenly over them (see `LoadDriver`).
struct LoadRunner: Sendable {
    let host: String
    let port: Int
    /// TLS for every connection (each does its own full handshake), or nil for plain TCP.
    let tls: WireClient.TLS?
    let workload: Workload
    let plan: LoadPlan

    /// The generator's own event loops; by default one, so that on a small machine it leaves the
    /// other cores to the server it measures (one loop drives over 100,000 calls a second).
    static let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    final class Shared: Sendable {
        let next = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let fatal = Mutex<Error?>(nil)
    }

    struct Tally: Sendable {
        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var ok = 0
        var errors = 0
        var firstError: String?

        mutating func add(_ other: Tally) {
            latency.add(other.latency)
            ok += other.ok
            errors += other.errors
            firstError = firstError ?? other.firstError
        }
    }

    func run() async throws -> BenchReport {
        let shared = Shared()
        let limit = [plan.requests, workload.limit].compactMap { $0 }.min()
        let group = LoadRunner.loops
        let start = NIODeadline.now()
        let deadline = start + .milliseconds(Int64(plan.duration * 1000))
        // Open loop: each connection sends every `interval`, offset so the sends interleave evenly.
        let interval = plan.rate.map { TimeAmount.nanoseconds(Int64(1e9 * Double(plan.connections) / Double($0))) }
        var results: [EventLoopFuture<Tally>] = []
        for connection in 0..<plan.connections {
            let offset = interval.map { $0.nanoseconds * Int64(connection) / Int64(plan.connections) } ?? 0
            let settings = LoadDriver.Settings(
                workload: workload, shared: shared, limit: limit, deadline: deadline, pipeline: plan.pipeline,
                interval: interval, firstSend: start + .nanoseconds(offset), timeout: plan.timeout)
            let finished = group.next().makePromise(of: Tally.self)
            let handshake = tls.map { _ in group.next().makePromise(of: Void.self) }
            do {
                _ = try await ClientBootstrap(group: group)
                    .connectTimeout(.seconds(5))
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .channelInitializer { [tls, host] channel in
                        channel.eventLoop.makeCompletedFuture {
                            if let tls, let handshake {
                                try channel.pipeline.syncOperations.addHandlers(
                                    try tls.handlers(host: host, handshake: handshake, timeout: .seconds(5)))
                            }
                            try channel.pipeline.syncOperations.addHandlers([
                                ByteToMessageHandler(FrameDecoder(maxFrameSize: 1 << 20)),
                                MessageToByteHandler(FrameEncoder()),
                                LoadDriver(settings: settings, finished: finished),
                            ])
                        }
                    }
                    .connect(host: host, port: port).get()
                // Requests written before the handshake completes wait in the TLS handler.
                try await handshake?.futureResult.get()
            } catch {
                handshake?.fail(error)
                shared.stop.store(true, ordering: .relaxed)
                finished.succeed(Tally())
                shared.fatal.withLock {
                    $0 = $0 ?? BenchError(description: "cannot connect to \(host):\(port): \(error)")
                }
            }
            results.append(finished.futureResult)
        }
        var total = Tally()
        for result in results { total.add(try await result.get()) }
        let elapsed = NIODeadline.now() - start
        if let fatal = shared.fatal.withLock({ $0 }) { throw fatal }
        return BenchReport(
            requests: total.ok + total.errors, errors: total.errors, seconds: Double(elapsed.nanoseconds) / 1e9,
            latency: total.latency, firstError: total.firstError)
    }
}

extension LoadRunner.Tally {
    /// A success whose response nobody needs to see.
    mutating func recordSuccess(micros: UInt64) {
        _ = latency.record(micros)
        ok += 1
    }

    mutating func record(
        micros: UInt64, _ response: Authsec_V1_Response, observe: (@Sendable (Authsec_V1_Response) -> Void)?
    ) {
        _ = latency.record(micros)
        if response.status.code == .ok {
            ok += 1
            observe?(response)
        } else {
            errors += 1
            if firstError == nil { firstError = "\(response.status.error): \(response.status.message)" }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
}
