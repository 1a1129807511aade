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
    /// Answers written in one event-loop turn (a read burst's inline answers, or the requests a
    /// commit finished) leave in one system call.
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
            flush.schedule(context)
            return
        }
        if let response = service.handleImmediately(request) {
            write(response, context: context)
            flush.schedule(context)
            return
        }
        inFlight += 1
        counter.value.add(1, ordering: .relaxed)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let service = self.service
        Task(executorPreference: executor) {
            let response = await service.handle(request)
            // The pinned executor resumes this task on the connection's event loop.
            let (handler, context) = bound.value
            handler.finish(response, context: context)
        }
    }

    private func finish(_ response: Authsec_V1_Response, context: ChannelHandlerContext) {
        inFlight -= 1
        counter.value.subtract(1, ordering: .relaxed)
        guard context.channel.isActive else { return }
        write(response, context: context)
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
