/// Who is calling and through which door: what rate limits, the audit log and the log need to
/// know of a request beyond its parameters. The doors fill it in; the domain never reads a socket.
public struct CallContext: Sendable, Equatable {
    public enum Door: String, Sendable {
        case wire
        case http
        /// A call made inside the process: tests, maintenance.
        case local
    }

    public let door: Door
    /// The peer's IP address as text (no port); empty when unknown.
    public let peer: String
    /// Unique among this process's requests, to match a log line or audit event to its request.
    public let requestID: UInt64

    public init(door: Door, peer: String, requestID: UInt64) {
        self.door = door
        self.peer = peer
        self.requestID = requestID
    }

    /// For calls made inside the process (tests, maintenance): no door, no peer.
    public static let inProcess = CallContext(door: .local, peer: "", requestID: 0)
}
