import Logging
import NIOCore
import SwiftProtobuf
import Wire

/// One wire connection: decodes requests, answers each as soon as it is ready (pipelined, any
/// order), and stops reading while `maxInFlight` requests are unanswered (back-pressure).
final class WireConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let service: WireService
    private let maxInFlight: Int
    private let counter: InFlightCounter
    private let logger: Logger
    private var inFlight = 0
    private var isReadPending = false
    private var isClosing = false
    /// Inline answers written during this read burst; flushed once at `channelReadComplete`.
    private var needsFlush = false
    private let flush = CoalescedFlush()

    /// Request tasks run on this connection's event loop, not on the global pool.
    private let executor: EventLoopTaskExecutor

    init(service: WireService, maxInFlight: Int, counter: InFlightCounter, eventLoop: any EventLoop, logger: Logger) {
        self.service = service
        self.executor = .pinned(to: eventLoop)
        self.maxInFlight = maxInFlight
        self.counter = counter
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let request: Authsec_V1_Request
        do {
            request = try Authsec_V1_Request(serializedBytes: Array(frame.readableBytesView))
        } catch {
            var response = Authsec_V1_Response()
            response.status = WireService.status(
                .invalidArgument, error: "invalid_request", message: "frame is not a valid Request message")
            write(response, context: context)
            context.flush()
            return
        }
        if let response = service.handleImmediately(request) {
            write(response, context: context)
            needsFlush = true
            return
        }
        inFlight += 1
        counter.value.add(1, ordering: .relaxed)
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let service = self.service
        Task(executorPreference: executor) {
            let response = await service.handle(request)
            loop.execute {
                let (handler, context) = bound.value
                handler.finish(response, context: context)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    private func finish(_ response: Authsec_V1_Response, context: ChannelHandlerContext) {
        inFlight -= 1
        counter.value.subtract(1, ordering: .relaxed)
        guard context.channel.isActive else { return }
        write(response, context: context)
        // A commit answers many requests at once: their responses leave together.
        flush.schedule(context)
        if isReadPending, inFlight < maxInFlight {
            isReadPending = false
            context.read()
        }
    }

    private func write(_ response: Authsec_V1_Response, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(encode(response, context: context)), promise: nil)
    }

    private func encode(_ response: Authsec_V1_Response, context: ChannelHandlerContext) -> ByteBuffer {
        // Serializing a fully built message cannot fail (proto3 has no required fields).
        let bytes: [UInt8] = (try? response.serializedBytes()) ?? []
        return context.channel.allocator.buffer(bytes: bytes)
    }

    func read(context: ChannelHandlerContext) {
        if inFlight >= maxInFlight {
            isReadPending = true
        } else {
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard !isClosing else { return }
        isClosing = true
        if case WireError.frameTooLarge(let size, let limit)? = error as? WireError {
            var response = Authsec_V1_Response()
            response.status = WireService.status(
                .resourceExhausted, error: "invalid_request",
                message: "frame of \(size) bytes exceeds the maximum of \(limit) bytes")
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(encode(response, context: context))).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent, inFlight == 0 {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
