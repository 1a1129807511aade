import Foundation
import Synchronization
import Testing

@testable import Authority

/// The hashing threads' ticker: it must really interrupt its thread (a signal blocked by the mask
/// a thread inherits would interrupt nothing) and stop when disarmed.
@Suite(.timeLimit(.minutes(1))) struct PreemptionTickerTests {
    @Test func anArmedTickerInterruptsItsThreadAndADisarmedOneDoesNot() async throws {
        #if os(Linux)
            let counts: (armed: Int, disarmed: Int) = await withCheckedContinuation { continuation in
                // Started from a thread that blocks every signal, as dispatch and event-loop threads do.
                var all = sigset_t()
                sigfillset(&all)
                var previous = sigset_t()
                pthread_sigmask(SIG_SETMASK, &all, &previous)
                let thread = Thread {
                    let ticker = PreemptionTicker(interval: .microseconds(200), quietInterval: .microseconds(200))
                    ticker.arm()
                    Self.spin(for: .milliseconds(50))
                    ticker.disarm()
                    let armed = ticker.steps
                    Self.spin(for: .milliseconds(50))
                    continuation.resume(returning: (armed, ticker.steps - armed))
                }
                thread.start()
                pthread_sigmask(SIG_SETMASK, &previous, nil)
            }
            // 50 ms at 200 µs is 250 ticks; a busy machine may run the thread for less of that time.
            #expect(counts.armed >= 10)
            #expect(counts.disarmed <= 1)  // one signal may already have been on its way
        #endif
    }

    /// A hash steps aside (and ticks often) only while others are about: after another task ran on
    /// its CPU, until the time it may be owed has passed; alone, it ticks seldom and runs on.
    @Test func theTickerStepsAsideOnlyForAWhileAfterAnotherTaskRanOnItsCPU() {
        #if os(Linux)
            var pacing = PreemptionTicker.Pacing(busyPeriod: 100_000, quietPeriod: 1_000_000)
            let alone = pacing.decide(now: 1_000_000, elapsed: 1_000_000, ran: 995_000)  // tick noise only
            #expect(!alone && !pacing.isBusy)
            let interfered = pacing.decide(now: 2_000_000, elapsed: 1_000_000, ran: 900_000)  // 100 µs of another task
            #expect(interfered && pacing.isBusy)
            let owed = pacing.decide(now: 9_900_000, elapsed: 100_000, ran: 100_000)  // alone since, still owed
            #expect(owed)
            let paid = pacing.decide(now: 10_100_000, elapsed: 100_000, ran: 100_000)  // past the 8 ms window
            #expect(!paid && !pacing.isBusy)
        #endif
    }

    @Test func theTickersSignalSentByAnotherProcessIsIgnored() async throws {
        #if os(Linux)
            _ = PreemptionTicker()  // installs the handler
            // `sigqueue` carries a value where a timer's signal carries the ticker's state; taken
            // for that state, this one would be read at address 8 and crash the process.
            let signal = __libc_current_sigrtmax() - 2
            #expect(sigqueue(getpid(), signal, sigval(sival_ptr: UnsafeMutableRawPointer(bitPattern: 8))) == 0)
            try await Task.sleep(for: .milliseconds(50))
        #endif
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

    /// Keeps the calling thread on the CPU, as a hash does.
    private static func spin(for duration: Duration) {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: duration)
        var counter = 0
        while clock.now < end { counter &+= 1 }
        _ = counter
    }
}
