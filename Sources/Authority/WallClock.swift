import Foundation
import Synchronization

/// The time source Authority decides with; injected so tests control expiry.
public protocol WallClock: Sendable {
    /// Seconds since the Unix epoch.
    func now() -> Int64
}

/// The system's real-time clock.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
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
