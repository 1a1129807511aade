import NIOCore

/// Flushes a channel once per event-loop turn, however many writes the turn made: pipelined
/// calls (or responses) written together leave in one system call.
public final class CoalescedFlush {
    private var isScheduled = false

    public init() {}

    /// Flushes `context` after the tasks already queued on its event loop have run.
    public func schedule(_ context: ChannelHandlerContext) {
        guard !isScheduled else { return }
        isScheduled = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (flush, context) = bound.value
            flush.isScheduled = false
            context.flush()
        }
    }
}
