import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Resolves host names with `getaddrinfo` on a small thread pool of its own, off the event loops.
///
/// `getaddrinfo` blocks and cannot be cancelled; the fetch's deadline stops *waiting* for it,
/// and the pool's two threads bound how many stuck look-ups can pile up behind a slow resolver
/// without taking threads from anything else (the request queue waits, inside each caller's
/// deadline).
enum HostResolver {
    /// Started once, for the life of the process.
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    /// Every address `host` resolves to (IPv4 and IPv6, TCP), deduplicated, in resolver order.
    static func resolve(_ host: String, on eventLoop: any EventLoop) -> EventLoopFuture<[IPAddress]> {
        pool.runIfActive(eventLoop: eventLoop) { try addresses(of: host) }
    }

    /// The blocking look-up itself.
    static func addresses(of host: String) throws(FetchError) -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc) || canImport(Musl)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let first = list else {
            throw FetchError(.resolutionFailed, "\(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var found: [IPAddress] = []
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let entry = next {
            next = entry.pointee.ai_next
            guard let sockaddr = entry.pointee.ai_addr else { continue }
            let address: IPAddress?
            switch entry.pointee.ai_family {
            case AF_INET:
                var raw = sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                address = IPAddress(bytes: withUnsafeBytes(of: &raw) { Array($0) })
            case AF_INET6:
                var raw = sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                address = IPAddress(bytes: withUnsafeBytes(of: &raw) { Array($0) })
            default:
                address = nil
            }
            if let address, !found.contains(address) { found.append(address) }
        }
        guard !found.isEmpty else { throw FetchError(.resolutionFailed, "\(host): no IPv4 or IPv6 address") }
        return found
    }
}
