import NIOCore

/// Answers a connection over the caps with one message, then closes it; nothing it sends is read.
///
/// Behind TLS, the answer waits in the TLS handler until the handshake completes (and is dropped
/// with the connection if it never does, at the handshake deadline).
final class RefusedConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let answer: [UInt8]

    init(answer: [UInt8]) {
        self.answer = answer
    }

    /// The HTTP door's answer: `503` with `Retry-After`.
    static let http: [UInt8] = {
        let body = #"{"error":"temporarily_unavailable","error_description":"too many connections; retry later"}"#
        return Array(
            ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                + "Connection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body).utf8)
    }()

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: answer))).whenComplete { _ in
            channel.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
