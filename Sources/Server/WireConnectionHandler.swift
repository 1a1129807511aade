import Authority
import Dispatch
import Logging
import NIOCore
import SwiftProtobuf
import Wire

/// One wire connection: decodes requests, answers each as soon as it is ready (pipelined, any
/// order), and writes each answer as a length-prefixed frame.
///
/// Back-pressure: it stops reading while `maxInFlight` requests are unanswered, and while the
/// channel is not writable — answers the peer has not read exceed the channel's high-water mark —
/// so a peer that pipelines without reading grows nothing but its own socket buffers. A peer that
/// half-closes after writing still gets every answer; the connection closes once they are written.
final class WireConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let service: WireService
    private let maxInFlight: Int
    private let counter: InFlightCounter
    private let logger: Logger
    /// The peer's address, read once per connection for every request's `CallContext`.
    private var peer = ""
    private var inFlight = 0
    private var isReadPending = false
    private var isClosing = false
    /// The peer sent its last byte (half-close); close once every answer is written.
    private var isInputClosed = false
    /// Answers written in one event-loop turn (a read burst's inline answers, or the requests a
    /// commit finished) leave in one system call.
    private let flush = CoalescedFlush()

    /// Request tasks run on this connection's event loop, not on the global pool.
    private let executor: EventLoopTaskExecutor

    private let metrics: ServerMetrics.DoorSeries

    init(
        service: WireService, maxInFlight: Int, counter: InFlightCounter, eventLoop: any EventLoop,
        metrics: ServerMetrics.DoorSeries, logger: Logger
    ) {
        self.service = service
        self.metrics = metrics
        self.executor = .pinned(to: eventLoop)
        self.maxInFlight = maxInFlight
        self.counter = counter
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        peer = context.channel.remoteAddress?.peerText ?? ""
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let started = DispatchTime.now().uptimeNanoseconds
        let request: Authsec_V1_Request
        do {
            request = try Authsec_V1_Request(serializedBytes: Array(frame.readableBytesView))
        } catch {
            var response = Authsec_V1_Response()
            response.status = WireService.status(
                .invalidArgument, error: "invalid_request", message: "frame is not a valid Request message")
            metrics.record(.other, since: started, error: response.status.error)
            write(response, context: context)
            flush.schedule(context)
            return
        }
        let work: @Sendable () async -> Authsec_V1_Response
        let call = ServerMetrics.Call(request.call)
        switch service.answer(request, context: CallContext(.wire, peer: peer)) {
        case .now(let response):
            metrics.record(call, since: started, error: response.status.error)
            write(response, context: context)
            flush.schedule(context)
            return
        case .later(let later):
            work = later
        }
        inFlight += 1
        counter.value.add(1, ordering: .relaxed)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        Task(executorPreference: executor) {
            let response = await work()
            // The pinned executor resumes this task on the connection's event loop.
            let (handler, context) = bound.value
            handler.metrics.record(call, since: started, error: response.status.error)
            handler.finish(response, context: context)
        }
    }

    private func finish(_ response: Authsec_V1_Response, context: ChannelHandlerContext) {
        inFlight -= 1
        counter.value.subtract(1, ordering: .relaxed)
        guard context.channel.isActive else { return }
        write(response, context: context)
        flush.schedule(context)
        if isInputClosed, inFlight == 0 {
            closeAfterWrites(context: context)
            return
        }
        resumeReadingIfAllowed(context: context)
    }

    private func resumeReadingIfAllowed(context: ChannelHandlerContext) {
        if isReadPending, inFlight < maxInFlight, context.channel.isWritable {
            isReadPending = false
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReadingIfAllowed(context: context)
        context.fireChannelWritabilityChanged()
    }

    /// Flushes, then closes once everything written so far has reached the socket (writes
    /// complete in order, so an empty write's promise completes after theirs).
    private func closeAfterWrites(context: ChannelHandlerContext) {
        guard !isClosing else { return }
        isClosing = true
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    private func write(_ response: Authsec_V1_Response, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(encode(response, context: context)), promise: nil)
    }

    private func encode(_ response: Authsec_V1_Response, context: ChannelHandlerContext) -> ByteBuffer {
        var buffer = context.channel.allocator.buffer(capacity: 0)
        buffer.writeFrame(response)
        return buffer
    }

    func read(context: ChannelHandlerContext) {
        if inFlight >= maxInFlight || !context.channel.isWritable {
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
        if case .inputClosed = event as? ChannelEvent {
            // Every complete frame has been decoded and answered or started by now.
            isInputClosed = true
            if inFlight == 0 { closeAfterWrites(context: context) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
