import NIOCore

/// Closes a connection whose request (a wire frame, an HTTP head) was started but not finished
/// within `deadline`: a peer that trickles bytes (slowloris) holds a connection only that long,
/// however often it sends. The idle timeout, by contrast, restarts with every byte.
///
/// The owning handler says when a request starts and ends; this keeps the one timer.
final class PartialInputDeadline {
    let deadline: TimeAmount
    private var timer: Scheduled<Void>?

    init(deadline: TimeAmount) {
        self.deadline = deadline
    }

    /// Call after each read: `isMidRequest` says whether a started request is still incomplete.
    func update(isMidRequest: Bool, context: ChannelHandlerContext) {
        if !isMidRequest {
            timer?.cancel()
            timer = nil
        } else if timer == nil {
            let channel = context.channel
            timer = context.eventLoop.scheduleTask(in: deadline) { channel.close(promise: nil) }
        }
    }

    func cancel() {
        timer?.cancel()
        timer = nil
    }
}
