import NIOCore
import Wire

/// One connection's share of a bench run, driven from its event loop.
///
/// A response is recorded and the next request written in the same read, and writes are flushed
/// once per read burst: no task, promise or timer per call, so the generator takes as little of
/// the machine as it can from the server it measures.
final class LoadDriver: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Settings: Sendable {
        let workload: Workload
        let shared: LoadRunner.Shared
        let limit: Int?
        let deadline: NIODeadline
        /// Closed loop: requests kept in flight.
        let pipeline: Int
        /// Open loop: the time between intended sends on this connection, from `firstSend`.
        let interval: TimeAmount?
        let firstSend: NIODeadline
        let timeout: TimeAmount
    }

    /// An open loop that falls this far behind stops sending until answers come back.
    static let maxOpenLoopBacklog = 4096
    /// The open loop's shortest sleep.
    static let pacingTick = TimeAmount.microseconds(250)

    private let settings: Settings
    private let finished: EventLoopPromise<LoadRunner.Tally>
    private var tally = LoadRunner.Tally()
    /// Request id → the instant its latency counts from: when it was sent, or in an open loop
    /// when it was meant to be sent, so that queueing in the generator is not hidden.
    private var inFlight: [UInt64: NIODeadline] = [:]
    private var nextID: UInt64 = 1
    private var intended: NIODeadline
    private var isStopping = false
    private var isDone = false
    private var watchdog: RepeatedTask?
    private var pacer: Scheduled<Void>?

    init(settings: Settings, finished: EventLoopPromise<LoadRunner.Tally>) {
        self.settings = settings
        self.finished = finished
        self.intended = settings.firstSend
    }

    func channelActive(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        watchdog = context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) {
            _ in
            let (driver, context) = bound.value
            driver.check(context: context)
        }
        if settings.interval == nil {
            let now = NIODeadline.now()
            var sent = 0
            while sent < settings.pipeline, send(measuredFrom: now, context: context) { sent += 1 }
            context.flush()
            finishIfDrained(context: context)
        } else {
            pace(context: context)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let now = NIODeadline.now()
        // An answer nobody observes is read only as far as its id and status, when it succeeded.
        if settings.workload.observe == nil, let id = ResponseHeader.successfulID(frame) {
            guard let origin = inFlight.removeValue(forKey: id) else {
                fail("the server sent a response that matches no request", context: context)
                return
            }
            tally.recordSuccess(micros: UInt64(max(1, (now - origin).nanoseconds / 1000)))
        } else {
            guard let response = try? Authsec_V1_Response(serializedBytes: Array(frame.readableBytesView)),
                let origin = inFlight.removeValue(forKey: response.id)
            else {
                fail("the server sent a response that matches no request", context: context)
                return
            }
            let micros = max(1, (now - origin).nanoseconds / 1000)
            tally.record(micros: UInt64(micros), response, observe: settings.workload.observe)
        }
        if settings.interval == nil {
            _ = send(measuredFrom: now, context: context)
        }
        finishIfDrained(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail("the connection closed", context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail("\(error)", context: context)
    }

    /// Writes the next request unless the run is over; false once it is.
    private func send(measuredFrom origin: NIODeadline, context: ChannelHandlerContext) -> Bool {
        guard !isStopping else { return false }
        guard !settings.shared.stop.load(ordering: .relaxed), origin < settings.deadline,
            let index = claim()
        else {
            isStopping = true
            return false
        }
        let id = nextID
        nextID += 1
        inFlight[id] = origin
        if let body = settings.workload.encodedOnce {
            var buffer = context.channel.allocator.buffer(capacity: body.count + 11)
            buffer.writeInteger(UInt8(0x08))  // field 1 (`id`), a varint
            var rest = id
            while rest >= 0x80 {
                buffer.writeInteger(UInt8(truncatingIfNeeded: rest) | 0x80)
                rest >>= 7
            }
            buffer.writeInteger(UInt8(rest))
            buffer.writeBytes(body)
            context.write(wrapOutboundOut(buffer), promise: nil)
            return true
        }
        var request = settings.workload.request(index)
        request.id = id
        // Serializing a fully built message cannot fail (proto3 has no required fields).
        let bytes: [UInt8] = (try? request.serializedBytes()) ?? []
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
        return true
    }

    private func claim() -> Int? {
        let index = settings.shared.next.wrappingAdd(1, ordering: .relaxed).oldValue
        if let limit = settings.limit, index >= limit {
            settings.shared.stop.store(true, ordering: .relaxed)
            return nil
        }
        return index
    }

    /// Open loop: sends every request that is due, then sleeps until the next one is.
    private func pace(context: ChannelHandlerContext) {
        guard let interval = settings.interval, !isDone else { return }
        let now = NIODeadline.now()
        while intended <= now, inFlight.count < Self.maxOpenLoopBacklog, send(measuredFrom: intended, context: context)
        {
            intended = intended + interval
        }
        context.flush()
        if isStopping {
            finishIfDrained(context: context)
            return
        }
        // Waking for every request would cost the generator more than the server spends on it;
        // waking at most every `pacingTick` sends a few at a time, each still timed from when it
        // was due, so the delay this adds is measured, not hidden.
        let wake =
            inFlight.count < Self.maxOpenLoopBacklog ? max(intended, now + Self.pacingTick) : now + .milliseconds(1)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        pacer = context.eventLoop.scheduleTask(deadline: wake) {
            let (driver, context) = bound.value
            driver.pace(context: context)
        }
    }

    /// Every 100 ms: notices a run stopped elsewhere, and calls that went unanswered too long.
    private func check(context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        if let oldest = inFlight.values.min(), now - oldest > settings.timeout {
            fail("no answer within \(settings.timeout.nanoseconds / 1_000_000_000) s", context: context)
            return
        }
        if !isStopping, settings.shared.stop.load(ordering: .relaxed) || now >= settings.deadline {
            isStopping = true
            finishIfDrained(context: context)
        }
    }

    private func finishIfDrained(context: ChannelHandlerContext) {
        guard isStopping, inFlight.isEmpty, !isDone else { return }
        finish(context: context)
    }

    private func fail(_ reason: String, context: ChannelHandlerContext) {
        guard !isDone else { return }
        settings.shared.fatal.withLock { fatal in
            if fatal == nil {
                fatal = BenchError(description: "the run stopped: \(reason) (did the server go away?)")
            }
        }
        settings.shared.stop.store(true, ordering: .relaxed)
        finish(context: context)
    }

    private func finish(context: ChannelHandlerContext) {
        isDone = true
        watchdog?.cancel()
        pacer?.cancel()
        finished.succeed(tally)
        context.close(promise: nil)
    }
}
