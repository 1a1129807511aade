import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A per-thread timer that interrupts a `SCHED_IDLE` thread running long pure computation (a
/// bcrypt hash) while armed, and makes it step aside when requests are about, so that a woken
/// event loop waits at most about `interval` behind it instead of up to a scheduler tick or more.
///
/// Why (measured with `perf sched` beside sign-ins, BENCHMARKS.md "Sign-ins"): the idle class does
/// not make a hash yield at once. Under EEVDF an idle-class thread that was kept waiting is owed
/// time (positive lag, up to ~4 ms of it); when it runs again it pulls the run queue's average
/// down, a woken event loop counts as not yet eligible, and it waits while the hash repays — event
/// loops waited 3–4.5 ms behind a hash. A preemption from another CPU is also only noticed when the
/// hash's thread enters the kernel, which a hash never does by itself.
///
/// So each tick enters the kernel (a signal). After an interval in which another task ran on the
/// thread's CPU for `interference` or more, and for `owedWindow` after it, the thread is owed time
/// and others are about: it ticks every `interval` and at each tick sleeps a nanosecond — leaving
/// the run queue, so that whoever waits runs now. Otherwise nothing is owed and a woken thread
/// preempts the hash by itself: the thread ticks every `quietInterval` only to notice others, and
/// does not step aside. Each tick costs (a signal in a VM is microseconds, and a sleep that idles
/// the CPU far more): ticking every 100 µs throughout, as this ticker first did, took 13–24% of
/// sign-in throughput (BENCHMARKS.md "Sign-ins").
///
/// Linux only (elsewhere it does nothing). Each instance belongs to the thread that made it.
struct PreemptionTicker: ~Copyable {
    #if os(Linux)
        private var timer: timer_t?
        private let pacing: UnsafeMutablePointer<Pacing>
    #endif

    /// Makes a disarmed timer aimed at the calling thread. Where one cannot be made, `arm` and
    /// `disarm` do nothing: the thread then yields at the scheduler's tick.
    init(interval: Duration = .microseconds(100), quietInterval: Duration = .milliseconds(1)) {
        #if os(Linux)
            pacing = .allocate(capacity: 1)
            pacing.initialize(
                to: Pacing(busyPeriod: Pacing.nanoseconds(interval), quietPeriod: Pacing.nanoseconds(quietInterval)))
            Self.installHandler
            // Threads started from an event loop or a dispatch queue inherit a mask that blocks
            // nearly every signal; a blocked signal would stay pending and interrupt nothing.
            var unblocked = sigset_t()
            sigemptyset(&unblocked)
            sigaddset(&unblocked, Self.signal)
            pthread_sigmask(SIG_UNBLOCK, &unblocked, nil)
            // A sleep of 1 ns would otherwise last the default 50 µs of timer slack.
            try? "1".write(toFile: "/proc/thread-self/timerslack_ns", atomically: false, encoding: .utf8)
            var event = sigevent()
            event.sigev_notify = 4  // SIGEV_THREAD_ID: this thread, not the process
            event.sigev_signo = Self.signal
            event.sigev_value.sival_ptr = UnsafeMutableRawPointer(pacing)
            event._sigev_un._tid = Self.threadID()
            var made: timer_t?
            let created = event._sigev_un._tid > 0 && timer_create(CLOCK_MONOTONIC, &event, &made) == 0
            timer = created ? made : nil
            pacing.pointee.timer = timer
        #endif
    }

    deinit {
        #if os(Linux)
            // `pacing` is not freed: a signal already queued may still name it (a few bytes per
            // hashing thread, made once).
            if let timer { timer_delete(timer) }
        #endif
    }

    /// Starts the interruptions; the thread's own system calls restart after each (`SA_RESTART`).
    func arm() {
        #if os(Linux)
            pacing.pointee.mark()
            pacing.pointee.isArmed = true
            pacing.pointee.setTimer()
        #endif
    }

    /// How many ticks the thread has taken since the ticker was made.
    var steps: Int {
        #if os(Linux)
            pacing.pointee.steps
        #else
            0
        #endif
    }

    /// Stops the interruptions.
    func disarm() {
        #if os(Linux)
            pacing.pointee.isArmed = false  // a tick already on its way must not restart the timer
            set(itimerspec())
        #endif
    }

    #if os(Linux)
        /// What the handler knows of its thread; touched only by that thread and its handler.
        struct Pacing {
            /// The tick's period while others are about, and while the thread has its CPU alone.
            let busyPeriod: UInt64
            let quietPeriod: UInt64
            /// Another task on the CPU for this long in one interval is more than the tick's own
            /// cost (a few microseconds, in a VM): the thread is now owed time.
            let interference: UInt64 = 30_000
            /// How long after such an interval it keeps leaving the run queue: the time it may be
            /// owed, with margin (EEVDF clamps lag to about one 4 ms tick). Stored values, so that
            /// the handler touches no global (whose first use may lock).
            let owedWindow: UInt64 = 8_000_000
            var timer: timer_t?
            var wall: UInt64 = 0
            var cpu: UInt64 = 0
            var stepAsideUntil: UInt64 = 0
            var isArmed = false
            /// Whether the timer runs at `busyPeriod`.
            var isBusy = false
            /// Ticks taken (read by tests).
            var steps = 0

            init(busyPeriod: UInt64, quietPeriod: UInt64) {
                self.busyPeriod = busyPeriod
                self.quietPeriod = quietPeriod
            }

            static func nanoseconds(_ duration: Duration) -> UInt64 {
                let (seconds, attoseconds) = duration.components
                return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
            }

            mutating func mark() {
                wall = Self.clock(CLOCK_MONOTONIC)
                cpu = Self.clock(CLOCK_THREAD_CPUTIME_ID)
            }

            /// Takes one tick; called from the signal handler (only async-signal-safe calls).
            mutating func tick() {
                let now = Self.clock(CLOCK_MONOTONIC)
                let ran = Self.clock(CLOCK_THREAD_CPUTIME_ID) &- cpu
                if decide(now: now, elapsed: now &- wall, ran: ran) {
                    var pause = timespec(tv_sec: 0, tv_nsec: 1)
                    nanosleep(&pause, nil)
                }
                steps &+= 1
                mark()  // the step itself is not counted as another task's time
            }

            /// Whether to step aside now, given an interval of `elapsed` in which the thread ran
            /// for `ran`; moves the timer to the period that fits.
            mutating func decide(now: UInt64, elapsed: UInt64, ran: UInt64) -> Bool {
                if elapsed > ran, elapsed &- ran >= interference { stepAsideUntil = now &+ owedWindow }
                let busy = now < stepAsideUntil
                if busy != isBusy {
                    isBusy = busy
                    setTimer()
                }
                return busy
            }

            /// Runs the timer at the period of the current state (async-signal-safe).
            func setTimer() {
                guard isArmed, let timer else { return }
                let period = isBusy ? busyPeriod : quietPeriod
                let spec = timespec(tv_sec: Int(period / 1_000_000_000), tv_nsec: Int(period % 1_000_000_000))
                var value = itimerspec(it_interval: spec, it_value: spec)
                timer_settime(timer, 0, &value, nil)
            }

            private static func clock(_ id: clockid_t) -> UInt64 {
                var time = timespec()
                clock_gettime(id, &time)
                return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
            }
        }

        private func set(_ value: itimerspec) {
            guard let timer else { return }
            var value = value
            timer_settime(timer, 0, &value, nil)
        }

        /// The calling thread's kernel id: `gettid` is a GNU extension Glibc's module leaves out,
        /// and `/proc/thread-self` names the thread's directory by it.
        private static func threadID() -> pid_t {
            var path = [CChar](repeating: 0, count: 64)
            let length = readlink("/proc/thread-self", &path, path.count - 1)
            guard length > 0 else { return 0 }
            let text = String(decoding: path[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return pid_t(text.split(separator: "/").last ?? "") ?? 0
        }

        /// A real-time signal no library of ours uses; glibc keeps the lowest ones for itself.
        private static let signal = __libc_current_sigrtmax() - 2

        /// Installed once for the process; the timer's value names the thread's `Pacing`.
        private static let installHandler: Void = {
            var action = sigaction()
            action.__sigaction_handler.sa_sigaction = { _, info, _ in
                // Only the timer's own signals carry the pointer; one sent by `kill` carries a pid.
                guard let info, info.pointee.si_code == SI_TIMER,
                    let pointer = info.pointee._sifields._timer.si_sigval.sival_ptr
                else { return }
                pointer.assumingMemoryBound(to: Pacing.self).pointee.tick()
            }
            action.sa_flags = SA_RESTART | SA_SIGINFO
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }()
    #endif
}
