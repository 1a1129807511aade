import Logging
import NIOCore
import NIOPosix
import SwiftProtobuf
import Synchronization
import Wire

/// The binary-protocol door: accepts TCP connections and answers framed requests.
final class WireListener: Sendable {
    struct Limits: Sendable {
        var maxFrameSize = 1 << 20
        var maxInFlightPerConnection = 256
        var idleTimeout: TimeAmount = .seconds(300)
        /// A frame started must be complete within this (slowloris).
        var requestDeadline: TimeAmount = .seconds(10)
        var connections = ConnectionLimiter.Limits()
    }

    let service: WireService
    let limits: Limits
    let logger: Logger
    let channel: Channel
    /// Requests being answered across all connections, for graceful shutdown.
    let inFlight: InFlightCounter
    /// The door's own event loops. Token and introspection calls are answered inline on them, so
    /// under full load they stay busy; the HTTP door (and `/healthz`) stays on the shared
    /// singleton group, which the kernel schedules alongside instead of behind them.
    let eventLoops: MultiThreadedEventLoopGroup

    private init(
        service: WireService, limits: Limits, logger: Logger, channel: Channel, inFlight: InFlightCounter,
        eventLoops: MultiThreadedEventLoopGroup
    ) {
        self.service = service
        self.limits = limits
        self.logger = logger
        self.channel = channel
        self.inFlight = inFlight
        self.eventLoops = eventLoops
    }

    var localAddress: SocketAddress? { channel.localAddress }

    /// Binds `host:port`; with `tls`, every connection must complete a TLS handshake within the
    /// request deadline before anything else is read.
    static func bind(
        host: String, port: Int, threads: Int, service: WireService, limits: Limits, tls: ServerTLS?,
        metrics: ServerMetrics.DoorSeries, logger: Logger
    ) async throws -> WireListener {
        let counter = InFlightCounter()
        let limiter = ConnectionLimiter(limits.connections, series: metrics)
        let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let bound = ServerBootstrap(group: eventLoops)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // A peer that half-closes after its last request still gets every answer.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                let isAdmitted = limiter.admit(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addServerTLS(tls, handshakeDeadline: limits.requestDeadline)
                    guard isAdmitted else {
                        try channel.pipeline.syncOperations.addHandler(RefusedConnection(answer: refusal))
                        return
                    }
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(readTimeout: limits.idleTimeout),
                        WireFrameDeadline(deadline: limits.requestDeadline),
                        ByteToMessageHandler(FrameDecoder(maxFrameSize: limits.maxFrameSize)),
                        WireConnectionHandler(
                            service: service, maxInFlight: limits.maxInFlightPerConnection, counter: counter,
                            eventLoop: channel.eventLoop, metrics: metrics, logger: logger),
                    ])
                }
            }
            .bind(host: host, port: port)
        let channel: Channel
        do {
            channel = try await bound.get()
        } catch {
            try? await eventLoops.shutdownGracefully()
            throw error
        }
        return WireListener(
            service: service, limits: limits, logger: logger, channel: channel, inFlight: counter,
            eventLoops: eventLoops)
    }

    /// The answer to a connection over the caps: one RESOURCE_EXHAUSTED frame.
    private static let refusal: [UInt8] = {
        var response = Authsec_V1_Response()
        response.status = WireService.status(
            .resourceExhausted, error: "too_many_connections",
            message: "the server has too many connections (in all or from this address); retry later")
        var frame = ByteBuffer()
        frame.writeFrame(response)
        return Array(frame.readableBytesView)
    }()

    /// Stops accepting, then waits (up to `grace`) for requests in flight to be answered.
    func shutdown(grace: Duration = .seconds(10)) async {
        try? await channel.close()
        let deadline = ContinuousClock.now + grace
        while inFlight.value.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        try? await eventLoops.shutdownGracefully()
    }
}

/// A shared counter of requests in flight.
final class InFlightCounter: Sendable {
    let value = Atomic<Int>(0)
}
