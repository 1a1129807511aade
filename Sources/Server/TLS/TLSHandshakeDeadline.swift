import NIOCore
import NIOSSL
import NIOTLS

/// Closes a TLS connection whose handshake is not complete within `deadline` of its start.
///
/// The handshake is a connection's first request, so it gets the request deadline: a peer that
/// sends nothing, trickles a ClientHello, or speaks plain text that BoringSSL is still waiting to
/// make sense of holds a socket only that long. It sits right behind `NIOSSLServerHandler` and
/// leaves the pipeline once the handshake completes.
final class TLSHandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let deadline: TimeAmount
    private var timer: Scheduled<Void>?

    init(deadline: TimeAmount) {
        self.deadline = deadline
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            timer?.cancel()
            timer = nil
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func start(context: ChannelHandlerContext) {
        guard timer == nil else { return }
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: deadline) { channel.close(promise: nil) }
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Puts TLS in front of everything added after it, when `tls` is set: the server's handler
    /// with the context current now, and the handshake deadline.
    func addServerTLS(_ tls: ServerTLS?, handshakeDeadline: TimeAmount) throws {
        guard let tls else { return }
        try addHandlers([
            NIOSSLServerHandler(context: tls.context), TLSHandshakeDeadline(deadline: handshakeDeadline),
        ])
    }
}
