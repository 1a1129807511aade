import Foundation
import Synchronization

/// The time source Authority decides with; injected so tests control expiry.
public protocol WallClock: Sendable {
    /// Seconds since the Unix epoch.
    func now() -> Int64
    /// Nanoseconds since the Unix epoch, for rates finer than a second.
    func nanoseconds() -> Int64
}

extension WallClock {
    public func nanoseconds() -> Int64 { now() * 1_000_000_000 }
}

/// The system's real-time clock.
public struct SystemClock: WallClock {
    public init() {}
    /// `time(2)`: the vDSO returns the kernel's current second without reading a hardware clock,
    /// which matters on paths that ask several times per request.
    public func now() -> Int64 { Int64(time(nil)) }

    public func nanoseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}

/// A clock that moves only when told; for tests.
public final class ManualClock: WallClock {
    private let seconds: Mutex<Int64>

    public init(_ start: Int64 = 1_800_000_000) {
        seconds = Mutex(start)
    }

    public func now() -> Int64 { seconds.withLock { $0 } }

    public func advance(by delta: Int64) {
        seconds.withLock { $0 += delta }
    }
}
