import Authority
import Synchronization

/// Holds Authority once the issuer is known (after the HTTP door has bound its port).
final class AuthorityCell: Sendable {
    private let stored = Mutex<Authority?>(nil)

    var value: Authority? { stored.withLock { $0 } }

    func set(_ authority: Authority) { stored.withLock { $0 = authority } }
}
