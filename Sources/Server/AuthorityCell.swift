import Authority
import Foundation
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

/// The wire door's address as clients should dial it (`HOST:PORT`), once the door is bound;
/// advertised in the HTTP metadata so a CLI given only `AUTHSEC_DOMAIN` can find it.
final class WireAddressCell: Sendable {
    private let address = Mutex<String?>(nil)

    var value: String? { address.withLock { $0 } }

    func set(_ value: String) { address.withLock { $0 = value } }

    /// `host:port` to advertise: the bound host, or the issuer's host when the door listens on
    /// every interface (a wildcard is no address to dial).
    static func advertised(boundHost: String, port: Int, issuer: String) -> String {
        var host = boundHost
        if ["0.0.0.0", "::", "[::]", ""].contains(boundHost) {
            host = URLComponents(string: issuer)?.host ?? "localhost"
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
    }
}
