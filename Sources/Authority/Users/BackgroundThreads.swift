import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Threads of Linux's idle scheduling class (`SCHED_IDLE`), one per core, for work that must not
/// delay requests: password hashing. A bcrypt check may take every idle cycle of every core,
/// yet a thread of the normal class that wakes (an event loop) preempts it at once, so sign-ins
/// run as fast as the cores allow while token calls keep their latency (BENCHMARKS.md, "People").
///
/// Jobs wait in order in an unbounded queue: each is a request in flight, which the doors'
/// connection limits bound.
final class BackgroundThreads: Sendable {
    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private let ready = DispatchSemaphore(value: 0)

    init(count: Int = ProcessInfo.processInfo.activeProcessorCount) {
        for index in 0..<max(1, count) {
            let thread = Thread { [self] in
                Self.lowerPriority()
                while true {
                    ready.wait()
                    let job = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                    job?()
                }
            }
            thread.name = "authsec-kdf-\(index)"
            thread.start()
        }
    }

    /// Runs `job` on one of the threads.
    func run(_ job: @escaping @Sendable () -> Void) {
        jobs.withLock { $0.append(job) }
        ready.signal()
    }

    /// Moves the calling thread to `SCHED_IDLE` (sched(7)): the fair scheduler preempts such a
    /// thread whenever a normal one wakes, where a nice-19 thread only loses its share (measured:
    /// token p99 3.2 ms beside sign-ins at nice 19). Where it cannot be set, the thread falls back
    /// to nice 19, and failing that runs at normal priority.
    private static func lowerPriority() {
        #if os(Linux)
            var parameters = sched_param()
            parameters.sched_priority = 0
            // SCHED_IDLE is 5 in the Linux ABI; Glibc declares it only under _GNU_SOURCE.
            if pthread_setschedparam(pthread_self(), 5, &parameters) != 0 {
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            }
        #endif
    }
}
