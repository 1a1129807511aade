import Authority
import NIOCore
import Synchronization

/// Numbers every request of this process, through either door, for `CallContext.requestID`.
enum RequestIDs {
    private static let last = Atomic<UInt64>(0)

    static func next() -> UInt64 {
        last.add(1, ordering: .relaxed).newValue
    }
}

extension CallContext {
    /// The context of a request from `peer` through `door`, with a fresh request id.
    init(_ door: Door, peer: String) {
        self.init(door: door, peer: peer, requestID: RequestIDs.next())
    }
}

extension SocketAddress {
    /// The address alone (no port), as `CallContext.peer` holds it; empty for a Unix socket.
    var peerText: String { ipAddress ?? "" }
}
