import NIOCore
import Synchronization

/// Caps a door's open connections, in all and per client address, so that no one peer (and no
/// crowd) can hold more sockets, buffers and handlers than the server planned for.
final class ConnectionLimiter: Sendable {
    struct Limits: Sendable {
        var total = 4096
        var perAddress = 512
    }

    private struct State {
        var total = 0
        var byAddress: [String: Int] = [:]
    }

    let limits: Limits
    private let state = Mutex(State())
    private let series: ServerMetrics.DoorSeries

    init(_ limits: Limits, series: ServerMetrics.DoorSeries) {
        self.limits = limits
        self.series = series
    }

    /// Counts `channel` in, or returns false when a cap is reached; an admitted channel is
    /// counted out when it closes.
    func admit(_ channel: any Channel) -> Bool {
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        let admitted = state.withLock { state in
            guard state.total < limits.total, state.byAddress[address, default: 0] < limits.perAddress else {
                return false
            }
            state.total += 1
            state.byAddress[address, default: 0] += 1
            return true
        }
        guard admitted else {
            series.refusedConnections.increment()
            return false
        }
        series.connections.increment()
        channel.closeFuture.whenComplete { [self] _ in
            series.connections.decrement()
            state.withLock { state in
                state.total -= 1
                let left = state.byAddress[address, default: 1] - 1
                state.byAddress[address] = left > 0 ? left : nil
            }
        }
        return true
    }
}
