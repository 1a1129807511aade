import Dispatch
import Synchronization
import Testing

@testable import Authority

/// The hashing threads' way out of starvation: work is run at normal priority as well once the
/// idle-class threads have made no progress for the stall limit, and delivered once.
@Suite(.timeLimit(.minutes(1))) struct BackgroundThreadsTests {
    @Test func workStillWaitingWhenTheThreadsStallRunsAtNormalPriorityAndIsDeliveredOnce() async throws {
        let threads = BackgroundThreads(count: 1, stallLimit: .milliseconds(100))
        // The only thread is kept busy, as a starved one would be.
        let release = DispatchSemaphore(value: 0)
        threads.run({ release.wait() }, deliver: { _ in })
        let deliveries = Mutex(0)
        let result: Int = await withCheckedContinuation { continuation in
            threads.run({ 6 * 7 }) { value in
                deliveries.withLock { $0 += 1 }
                continuation.resume(returning: value)
            }
        }
        #expect(result == 42)
        // Twice: the blocked job was started again at normal priority too, once the thread stalled.
        release.signal()
        release.signal()
        try await Task.sleep(for: .milliseconds(300))  // the thread now runs the queued copy too
        #expect(deliveries.withLock { $0 } == 1)
    }
}
