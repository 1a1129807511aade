import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// The HTTP door's connections: Hummingbird's HTTP/1.1 channel with `HTTPFastPath` in front of
/// its parser, and the fast path's answer counter behind it; with TLS, NIOSSL in front of all.
struct HTTPDoorChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let responder: HTTPChannelHandler.Responder
    let shim: HTTPShim
    /// A connection that sends nothing this long, with no answer owed, is closed.
    let idleTimeout: TimeAmount
    /// A request started must be complete within this (slowloris).
    let requestDeadline: TimeAmount
    let limiter: ConnectionLimiter
    /// When set, the door speaks only TLS, with the certificate current at accept.
    let tls: ServerTLS?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let isAdmitted = limiter.admit(channel)
        do {
            try channel.pipeline.syncOperations.addServerTLS(tls, handshakeDeadline: requestDeadline)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        guard isAdmitted else {
            // Over the caps: answered with one 503 and closed, through Hummingbird's own setup so
            // that the connection ends the way any other does.
            do {
                try channel.pipeline.syncOperations.addHandler(RefusedConnection(answer: RefusedConnection.http))
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
            return HTTP1Channel(responder: responder).setup(channel: channel, logger: logger)
        }
        let fastPath = HTTPFastPath(shim: shim, requestDeadline: requestDeadline)
        do {
            try channel.pipeline.syncOperations.addHandlers([IdleStateHandler(readTimeout: idleTimeout), fastPath])
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        // Hummingbird builds the rest of the pipeline on this loop, where the counter belongs.
        let counter = NIOLoopBound(fastPath.routerAnswers, eventLoop: channel.eventLoop)
        let configuration = HTTP1Channel.Configuration(additionalChannelHandlers: [counter.value])
        return HTTP1Channel(responder: responder, configuration: configuration).setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await HTTP1Channel(responder: responder).handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// Hummingbird's HTTP/1.1 server with the form endpoints' fast path, behind TLS when `tls` is set.
    static func authsec(
        shim: HTTPShim, idleTimeout: TimeAmount, requestDeadline: TimeAmount, connections: ConnectionLimiter.Limits,
        tls: ServerTLS?
    ) -> HTTPServerBuilder {
        let limiter = ConnectionLimiter(connections, series: shim.metrics.http)
        return HTTPServerBuilder { responder in
            HTTPDoorChannel(
                responder: responder, shim: shim, idleTimeout: idleTimeout, requestDeadline: requestDeadline,
                limiter: limiter, tls: tls)
        }
    }
}
