/// Why a fetch on a client's behalf failed. For the log only: callers answer every one of them
/// the same way, so a client learns nothing about our network from the reason.
///
/// A struct with an opaque code (as swift-certificates does), so adding a code breaks no caller.
struct FetchError: Error, Sendable, Equatable, CustomStringConvertible {
    struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidURL = "invalid URL"
            case refusedAddress = "refused address"
            case resolutionFailed = "resolution failed"
            case connectionFailed = "connection failed"
            case tlsFailed = "TLS failed"
            case timedOut = "deadline passed"
            case redirected = "redirect refused"
            case badStatus = "status not 200"
            case tooLarge = "too large"
            case malformedResponse = "malformed response"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Not https (or http when allowed), userinfo, a bad host or port.
        static let invalidURL = Code(.invalidURL)
        /// The host is, or resolved to, an address the policy refuses.
        static let refusedAddress = Code(.refusedAddress)
        static let resolutionFailed = Code(.resolutionFailed)
        static let connectionFailed = Code(.connectionFailed)
        /// The handshake failed: untrusted certificate, wrong host name, protocol error.
        static let tlsFailed = Code(.tlsFailed)
        /// The one deadline over resolve, connect, handshake, headers and body passed.
        static let timedOut = Code(.timedOut)
        /// A 3xx: redirects are not followed.
        static let redirected = Code(.redirected)
        /// Any status but 200.
        static let badStatus = Code(.badStatus)
        /// The body (announced or received) is over the size cap.
        static let tooLarge = Code(.tooLarge)
        /// The peer broke HTTP/1.1 or closed before the response ended.
        static let malformedResponse = Code(.malformedResponse)

        var description: String { base.rawValue }
    }

    let code: Code
    /// What happened, for the log; never holds the URL's query or a secret.
    let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { "\(code): \(message)" }
}
