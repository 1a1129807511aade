import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Threads of Linux's idle scheduling class (`SCHED_IDLE`), one per core, for work that must not
/// delay requests: password hashing. A bcrypt check may take every idle cycle of every core, and
/// a thread of the normal class that wakes (an event loop) preempts it, so sign-ins run as fast as
/// the cores allow (BENCHMARKS.md, "Sign-ins").
///
/// An idle-class thread gets almost no time while other processes keep every core busy (its
/// weight is 3 against a normal thread's 1024): a sign-in could wait minutes. So when the threads
/// have started and finished nothing for `stallLimit`, work still waiting is also started on a thread of the
/// normal class, and whichever result comes first is delivered. While the threads make progress
/// (a queue of sign-ins on an otherwise quiet machine) nothing is duplicated.
///
/// While requests flow (`RequestFlow` counts `busyRate` a second or more), the last of two or more
/// threads starts no new job: one core is left to the requests, and sign-ins go on, on the others.
/// Preempting a hash is never free: with a hash on every core, the wire token p99 beside sign-ins
/// was 1–15× its value alone from run to run; with a core left free, 1.20× and 1.87× by the
/// medians of two sets of five runs (BENCHMARKS.md, "Sign-ins"). A job that thread has begun runs
/// to its end.
///
/// Jobs wait in order in an unbounded queue: each is a request in flight, which the doors'
/// connection limits bound.
final class BackgroundThreads: Sendable {
    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private let ready = DispatchSemaphore(value: 0)
    /// When a job last started or finished (or the threads started), in uptime nanoseconds.
    private let lastProgress = Atomic<UInt64>(DispatchTime.now().uptimeNanoseconds)
    let stallLimit: Duration

    init(
        count: Int = ProcessInfo.processInfo.activeProcessorCount, stallLimit: Duration = .seconds(1),
        flow: RequestFlow = .shared, busyRate: UInt64 = 500, flowSpan: Duration = .milliseconds(10)
    ) {
        self.stallLimit = stallLimit
        let count = max(1, count)
        for index in 0..<count {
            let thread = Thread { [self] in
                Self.prepareThread(named: "authsec-kdf-\(index)")
                let span = Self.nanoseconds(flowSpan)
                var gauge = index == count - 1 && count > 1 ? FlowGauge(flow, rate: busyRate, span: span) : nil
                while true {
                    ready.wait()
                    if gauge?.requestsFlow() == true {
                        ready.signal()  // the job stays queued for the other threads
                        usleep(UInt32(clamping: span / 1000))
                        continue
                    }
                    let job = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                    lastProgress.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
                    job?()
                    lastProgress.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
                }
            }
            thread.start()
        }
    }

    /// Runs `work` on one of the threads and hands its result to `deliver`, once; if the threads
    /// stall first, it runs at normal priority too (see above).
    func run<T: Sendable>(_ work: @escaping @Sendable () -> T, deliver: @escaping @Sendable (T) -> Void) {
        let delivery = Delivery(deliver)
        jobs.withLock { $0.append { delivery.offer(work()) } }
        ready.signal()
        watch(work, delivery)
    }

    /// Checks every `stallLimit` until `delivery` is made; runs `work` here, at normal priority,
    /// once the threads have finished nothing for that long.
    private func watch<T: Sendable>(_ work: @escaping @Sendable () -> T, _ delivery: Delivery<T>) {
        let limit = Self.nanoseconds(stallLimit)
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(limit))) { [self] in
            guard !delivery.isDone else { return }
            let idle = DispatchTime.now().uptimeNanoseconds &- lastProgress.load(ordering: .relaxed)
            if idle >= limit {
                delivery.offer(work())
            } else {
                watch(work, delivery)
            }
        }
    }

    /// Whether `RequestFlow` rose at `rate` a second or more between two looks at least `span`
    /// apart, seen by one thread.
    private struct FlowGauge {
        let flow: RequestFlow
        let rate: UInt64
        /// The shortest span measured, in nanoseconds: 10 ms holds 5 requests at 500 a second.
        let span: UInt64
        var time = DispatchTime.now().uptimeNanoseconds
        var total: UInt64
        var flowing = false

        init(_ flow: RequestFlow, rate: UInt64, span: UInt64) {
            self.flow = flow
            self.rate = rate
            self.span = span
            total = flow.total
        }

        /// Whether requests were answered at `rate` a second or more since the last measure (over
        /// the whole time since, if that is long: the last thread's own job, or an idle spell).
        mutating func requestsFlow() -> Bool {
            let now = DispatchTime.now().uptimeNanoseconds
            let elapsed = now &- time
            guard elapsed >= span else { return flowing }
            let counted = flow.total
            flowing = (counted &- total) &* 1_000_000_000 >= rate &* elapsed
            (time, total) = (now, counted)
            return flowing
        }
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// Hands a result over once, whichever thread computes it first.
    private final class Delivery<T: Sendable>: Sendable {
        private let deliver: @Sendable (T) -> Void
        private let done = Atomic<Bool>(false)

        init(_ deliver: @escaping @Sendable (T) -> Void) { self.deliver = deliver }

        var isDone: Bool { done.load(ordering: .acquiring) }

        func offer(_ result: T) {
            if done.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
                deliver(result)
            }
        }
    }

    /// Names the calling thread (a name given through `Thread.name` before `start` is not applied
    /// on Linux, and the thread kept its creator's, an event loop's) and moves it to `SCHED_IDLE`
    /// (sched(7)): the fair scheduler preempts such a thread whenever a normal one wakes, where a
    /// nice-19 thread only loses its share (measured: token p99 3.2 ms beside sign-ins at nice 19).
    /// Where it cannot be set, the thread falls back to nice 19, and failing that runs at normal
    /// priority.
    private static func prepareThread(named name: String) {
        #if os(Linux)
            // pthread_setname_np is a GNU extension Glibc's module leaves out; this is its body.
            try? name.write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
            var parameters = sched_param()
            parameters.sched_priority = 0
            // SCHED_IDLE is 5 in the Linux ABI; Glibc declares it only under _GNU_SOURCE.
            if pthread_setschedparam(pthread_self(), 5, &parameters) != 0 {
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            }
        #endif
    }
}
