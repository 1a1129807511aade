import Authority
import Synchronization

/// Holds Authority once the issuer is known (after the HTTP door has bound its port).
final class AuthorityCell: Sendable {
    private enum State {
        case waiting
        case ready(Authority)
        case failed(any Error)
    }

    private let state = Mutex<State>(.waiting)

    /// Authority, or nil while starting (or after a failed start).
    var value: Authority? {
        state.withLock {
            if case .ready(let authority) = $0 { return authority }
            return nil
        }
    }

    func set(_ authority: Authority) { state.withLock { $0 = .ready(authority) } }

    func fail(_ error: any Error) { state.withLock { $0 = .failed(error) } }

    /// Waits until Authority is ready; rethrows the error of a failed start.
    func ready() async throws -> Authority {
        while true {
            let current = state.withLock { state -> Result<Authority, any Error>? in
                switch state {
                case .waiting: nil
                case .ready(let authority): .success(authority)
                case .failed(let error): .failure(error)
                }
            }
            if let current { return try current.get() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
