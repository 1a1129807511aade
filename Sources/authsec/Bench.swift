import ArgumentParser
import Foundation
import Histogram
import NIOCore
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
        case token, introspect, introspectDistinct = "introspect-distinct", revoke, createClient = "create-client",
            mixed
    }

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "token | introspect | introspect-distinct | revoke | create-client | mixed") var op: Operation =
        .token
    @Option(help: "TCP connections.") var connections = 16
    @Option(help: "Requests in flight per connection (closed loop).") var pipeline = 16
    @Option(help: "How long to measure, e.g. 10s (default 10s unless --requests).") var duration: DurationArgument?
    @Option(help: "Stop after this many requests instead of a duration.") var requests: Int?
    @Option(help: "Open loop: a fixed total rate in requests/s; latency counts from each request's intended send time.")
    var rate: Int?
    @Option(help: "Unmeasured warm-up before the run, e.g. 2s.") var warmup = DurationArgument(argument: "2s")!
    @Option(help: "Distinct tokens to prepare for introspect-distinct, revoke and mixed.") var tokens = 100_000
    @Option(name: .customLong("call-timeout"), help: "A call without an answer this long fails the run, e.g. 10s.")
    var callTimeout = DurationArgument(argument: "10s")!
    @Flag(help: "Keep the clients create-client made (to seed a store for scale runs).")
    var keep = false

    func validate() throws {
        guard connections > 0, pipeline > 0 else {
            throw ValidationError("--connections and --pipeline must be at least 1")
        }
        if let requests, requests <= 0 { throw ValidationError("--requests must be positive") }
        if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
        guard tokens > 0 else { throw ValidationError("--tokens must be positive") }
    }

    func run() async throws {
        let setup = try await BenchSetup.prepare(
            connection: connection, connections: connections, callTimeout: callTimeout.seconds)
        var report: BenchReport?
        var failure: Error?
        do {
            let workload = try await setup.workload(
                for: op, tokens: op == .revoke ? max(tokens, requests ?? 0) : tokens, pipeline: pipeline)
            let plan = LoadPlan(
                connections: connections, pipeline: pipeline,
                duration: Double(duration?.seconds ?? (requests == nil ? 10 : 3600)),
                requests: requests, rate: rate, timeout: .seconds(callTimeout.seconds))
            if warmup.seconds > 0, op != .revoke, op != .createClient {
                var warm = plan
                warm.duration = Double(warmup.seconds)
                warm.requests = nil
                _ = try await LoadRunner(clients: setup.clients, workload: workload, plan: warm).run()
            }
            report = try await LoadRunner(clients: setup.clients, workload: workload, plan: plan).run()
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

/// What one run asks for: how to build request number `n`, and how many there can be at most.
struct Workload: Sendable {
    let limit: Int?
    let request: @Sendable (Int) -> Authsec_V1_Request
    /// Sees every successful response (create-client records ids to delete afterwards).
    var observe: (@Sendable (Authsec_V1_Response) -> Void)? = nil
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

/// Drives the load: a closed loop of `pipeline` callers per connection, or an open loop at `rate`.
struct LoadRunner: Sendable {
    let clients: [WireClient]
    let workload: Workload
    let plan: LoadPlan

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
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .milliseconds(Int64(plan.duration * 1000))
        let total = try await withThrowingTaskGroup(of: Tally.self) { group in
            for connection in clients.indices {
                if let rate = plan.rate {
                    let perConnection = Double(rate) / Double(clients.count)
                    group.addTask {
                        await openLoop(
                            client: clients[connection], rate: perConnection, start: start, deadline: deadline,
                            limit: limit, shared: shared)
                    }
                } else {
                    for _ in 0..<plan.pipeline {
                        group.addTask {
                            await closedLoop(
                                client: clients[connection], deadline: deadline, limit: limit, shared: shared)
                        }
                    }
                }
            }
            var total = Tally()
            for try await tally in group { total.add(tally) }
            return total
        }
        let elapsed = clock.now - start
        if let fatal = shared.fatal.withLock({ $0 }) { throw fatal }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return BenchReport(
            requests: total.ok + total.errors, errors: total.errors, seconds: seconds, latency: total.latency,
            firstError: total.firstError)
    }

    private func claim(_ shared: Shared, limit: Int?) -> Int? {
        let index = shared.next.wrappingAdd(1, ordering: .relaxed).oldValue
        if let limit, index >= limit {
            shared.stop.store(true, ordering: .relaxed)
            return nil
        }
        return index
    }

    private func closedLoop(client: WireClient, deadline: ContinuousClock.Instant, limit: Int?, shared: Shared) async
        -> Tally
    {
        var tally = Tally()
        let clock = ContinuousClock()
        while !shared.stop.load(ordering: .relaxed), clock.now < deadline, let index = claim(shared, limit: limit) {
            let sent = clock.now
            await perform(index, on: client, measuredFrom: sent, into: &tally, shared: shared)
        }
        return tally
    }

    private func openLoop(
        client: WireClient, rate: Double, start: ContinuousClock.Instant, deadline: ContinuousClock.Instant,
        limit: Int?, shared: Shared
    )
        async -> Tally
    {
        let interval = Duration.nanoseconds(Int64(1e9 / rate))
        // Children report one outcome each; only this loop owns a histogram.
        return await withTaskGroup(of: Outcome.self) { group in
            var intended = start
            let clock = ContinuousClock()
            var inFlight = 0
            var tally = Tally()
            func record(_ outcome: Outcome) {
                inFlight -= 1
                tally.record(outcome, observe: workload.observe)
            }
            while !shared.stop.load(ordering: .relaxed), intended < deadline {
                if intended > clock.now { try? await Task.sleep(until: intended, clock: clock) }
                // Send everything that is due; a late sender still counts from the intended time.
                while intended <= clock.now, intended < deadline, let index = claim(shared, limit: limit) {
                    let due = intended
                    group.addTask { await call(index, on: client, measuredFrom: due, shared: shared) }
                    inFlight += 1
                    intended += interval
                }
                while inFlight > 4096, let outcome = await group.next() { record(outcome) }
            }
            for await outcome in group { record(outcome) }
            return tally
        }
    }

    private func perform(
        _ index: Int, on client: WireClient, measuredFrom start: ContinuousClock.Instant, into tally: inout Tally,
        shared: Shared
    ) async {
        tally.record(await call(index, on: client, measuredFrom: start, shared: shared), observe: workload.observe)
    }

    /// One call's outcome: its latency in microseconds and response, or nil after a fatal error.
    private func call(_ index: Int, on client: WireClient, measuredFrom start: ContinuousClock.Instant, shared: Shared)
        async -> Outcome
    {
        do {
            let response = try await client.call(workload.request(index), timeout: plan.timeout)
            let elapsed = ContinuousClock.now - start
            let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
            return Outcome(micros: UInt64(max(1, micros)), response: response)
        } catch {
            shared.fatal.withLock { fatal in
                if fatal == nil {
                    fatal = BenchError(description: "the run stopped: \(error) (did the server go away?)")
                }
            }
            shared.stop.store(true, ordering: .relaxed)
            return Outcome(micros: nil, response: nil)
        }
    }
}

struct Outcome: Sendable {
    let micros: UInt64?
    let response: Authsec_V1_Response?
}

extension LoadRunner.Tally {
    mutating func record(_ outcome: Outcome, observe: (@Sendable (Authsec_V1_Response) -> Void)?) {
        guard let micros = outcome.micros, let response = outcome.response else { return }
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
