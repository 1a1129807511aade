import NIOCore
import NIOPosix

/// Runs Swift tasks on NIO event loops instead of the global concurrency pool.
///
/// Both doors do short, CPU-bound work per request (an ES256 signature, a cached lookup). On the
/// global pool every request pays two thread hops and a wake-up (event loop → pool → event loop);
/// here a task that the event loop wakes runs on that same loop, right after the read that woke
/// it. Work that must not block a loop (LMDB commits) already runs on the store's writer queue.
///
/// - `pinned` executors keep every job on one loop: the wire door gives each request task the
///   loop of its connection.
/// - `following` executors run a job on whatever event loop enqueues it, and a job enqueued from
///   elsewhere (the store writer resuming a waiter) on the next loop of `group`. Hummingbird's
///   connection tasks inherit one through `withTaskExecutorPreference`.
final class EventLoopTaskExecutor: TaskExecutor {
    private enum Placement {
        case pinned(any EventLoop)
        case following(any EventLoopGroup)
    }

    private let placement: Placement

    private init(_ placement: Placement) {
        self.placement = placement
    }

    /// Every job runs on `loop`.
    static func pinned(to loop: any EventLoop) -> EventLoopTaskExecutor {
        EventLoopTaskExecutor(.pinned(loop))
    }

    /// Jobs run on the event loop that enqueues them, else on the next loop of `group`.
    static func following(_ group: any EventLoopGroup) -> EventLoopTaskExecutor {
        EventLoopTaskExecutor(.following(group))
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let loop: any EventLoop
        switch placement {
        case .pinned(let pinned): loop = pinned
        case .following(let group): loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
        }
        loop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
