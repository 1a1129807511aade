import Authority
import Hummingbird
import NIOCore

/// Hummingbird's request context for the HTTP door, with the peer's address for `CallContext`.
struct DoorRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The peer's address (no port), read when the request arrives.
    let peer: String

    init(source: Source) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress?.peerText ?? ""
    }

    /// This request's context for Authority.
    var call: CallContext { CallContext(.http, peer: peer) }
}
