import NIOCore

/// Watches the wire door's byte stream for frame boundaries (a 4-byte big-endian length, then that
/// many bytes) and closes a connection that leaves a frame unfinished past the deadline.
///
/// It only counts; the frame decoder behind it still frames and refuses oversized frames.
final class WireFrameDeadline: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let deadline: PartialInputDeadline
    /// Length-prefix bytes of the current frame seen so far (0 to 4).
    private var prefixBytes = 0
    private var length: UInt32 = 0
    /// Body bytes of the current frame still to come.
    private var remaining: UInt64 = 0

    init(deadline: TimeAmount) {
        self.deadline = PartialInputDeadline(deadline: deadline)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { bytes in
            var index = 0
            while index < bytes.count {
                if remaining > 0 {
                    let step = Int(min(remaining, UInt64(bytes.count - index)))
                    remaining -= UInt64(step)
                    index += step
                    continue
                }
                length = length << 8 | UInt32(bytes[index])
                prefixBytes += 1
                index += 1
                if prefixBytes == 4 {
                    remaining = UInt64(length)
                    prefixBytes = 0
                    length = 0
                }
            }
        }
        deadline.update(isMidRequest: prefixBytes > 0 || remaining > 0, context: context)
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline.cancel()
        context.fireChannelInactive()
    }
}
