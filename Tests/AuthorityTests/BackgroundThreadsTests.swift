import Dispatch
import Foundation
import Synchronization
import Testing

@testable import Authority

/// The hashing threads' way out of starvation (work is run at normal priority as well once the
/// idle-class threads have made no progress for the stall limit, and delivered once), and the core
/// they leave to requests while requests flow.
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

    @Test func hashingThreadsAreNamedAndInTheIdleClass() async throws {
        #if os(Linux)
            let threads = BackgroundThreads(count: 1)
            let done: Bool = await withCheckedContinuation { continuation in
                threads.run({ true }) { continuation.resume(returning: $0) }
            }
            #expect(done)
            let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
            let policies = tasks.compactMap { task -> Int32? in
                let name = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)
                guard name?.hasPrefix("authsec-kdf-") == true, let id = pid_t(task) else { return nil }
                return sched_getscheduler(id)
            }
            #expect(!policies.isEmpty)
            #expect(policies.allSatisfy { $0 == 5 })  // SCHED_IDLE
        #endif
    }

    @Test func whileRequestsFlowTheLastThreadStartsNoJobAndOnceTheyStopItDoes() async throws {
        let flow = RequestFlow()
        // Measured over 200 ms, so that a busy test machine cannot starve the counting below.
        let threads = BackgroundThreads(count: 2, flow: flow, busyRate: 500, flowSpan: .milliseconds(200))
        let counting = Switch()
        let counter = Thread {
            while counting.isOn.load(ordering: .relaxed) {
                for _ in 0..<100 { flow.count() }  // about 100,000 requests a second
                usleep(1000)
            }
        }
        counter.start()
        while flow.total < 1_000 { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(250))
        #expect(await Self.mostAtOnce(of: 4, on: threads) == 1)
        counting.isOn.store(false, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(250))
        #expect(await Self.mostAtOnce(of: 4, on: threads) == 2)
    }

    /// Runs `jobs` jobs of 300 ms each at once and answers how many ran at the same time at most.
    private static func mostAtOnce(of jobs: Int, on threads: BackgroundThreads) async -> Int {
        let overlap = Overlap()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<jobs {
                group.addTask {
                    await withCheckedContinuation { continuation in
                        threads.run({ overlap.hold(microseconds: 300_000) }, deliver: { continuation.resume() })
                    }
                }
            }
        }
        return overlap.most.load(ordering: .relaxed)
    }

    /// Counts the jobs running now and the most that ran at once.
    private final class Overlap: Sendable {
        let running = Atomic(0)
        let most = Atomic(0)

        func hold(microseconds: UInt32) {
            _ = most.max(running.add(1, ordering: .relaxed).newValue, ordering: .relaxed)
            usleep(microseconds)
            running.subtract(1, ordering: .relaxed)
        }
    }

    private final class Switch: Sendable {
        let isOn = Atomic(true)
    }
}
