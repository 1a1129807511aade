import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// The HTTP door's connections: Hummingbird's HTTP/1.1 channel with `HTTPFastPath` in front of
/// its parser, and the fast path's answer counter behind it.
struct HTTPDoorChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let responder: HTTPChannelHandler.Responder
    let shim: HTTPShim
    /// A connection that sends nothing this long, with no answer owed, is closed.
    let idleTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let fastPath = HTTPFastPath(shim: shim)
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
    /// Hummingbird's HTTP/1.1 server with the form endpoints' fast path.
    static func authsec(shim: HTTPShim, idleTimeout: TimeAmount) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in HTTPDoorChannel(responder: responder, shim: shim, idleTimeout: idleTimeout) }
    }
}
