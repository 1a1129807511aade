import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One fetch of one URL: resolve, vet every address, connect to a vetted one, TLS, GET, read —
/// under one deadline that, when it passes, closes whatever is open and fails the fetch.
///
/// The steps are callbacks on one event loop (the resolver hops back to it, and the connection
/// is made on it), so the state needs no lock. `@unchecked Sendable` is safe because every
/// access to the mutable fields happens on `eventLoop`, which each method asserts.
final class FetchAttempt: @unchecked Sendable {
    /// What to fetch and how, fixed before the attempt starts.
    struct Setup: Sendable {
        let url: FetchURL
        let policy: AddressPolicy
        /// Required for https; nil only for http, which the URL parse allowed.
        let tls: NIOSSLContext?
        let deadline: TimeAmount
        let maxBytes: Int
        let accept: String
        let userAgent: String
    }

    private let setup: Setup
    private let eventLoop: any EventLoop
    private let promise: EventLoopPromise<FetchedDocument>
    private var isFinished = false
    private var channel: (any Channel)?
    private var timeout: Scheduled<Void>?
    private var deadline = NIODeadline.now()

    private init(_ setup: Setup, on eventLoop: any EventLoop) {
        self.setup = setup
        self.eventLoop = eventLoop
        promise = eventLoop.makePromise()
    }

    /// Starts the attempt; the future fails with a `FetchError` for every failure.
    static func run(_ setup: Setup, on eventLoop: any EventLoop) -> EventLoopFuture<FetchedDocument> {
        let attempt = FetchAttempt(setup, on: eventLoop)
        eventLoop.execute { attempt.start() }
        return attempt.promise.futureResult
    }

    private func start() {
        eventLoop.assertInEventLoop()
        deadline = .now() + setup.deadline
        let milliseconds = setup.deadline.nanoseconds / 1_000_000
        timeout = eventLoop.scheduleTask(deadline: deadline) { [self] in
            finish(.failure(FetchError(.timedOut, "no complete answer within \(milliseconds) ms")))
        }
        if let literal = setup.url.literalAddress {
            vet([literal])
            return
        }
        HostResolver.resolve(setup.url.host, on: eventLoop).whenComplete { [self] result in
            switch result {
            case .success(let addresses):
                vet(addresses)
            case .failure(let error):
                finish(.failure(error as? FetchError ?? FetchError(.resolutionFailed, "\(error)")))
            }
        }
    }

    /// Every address must pass before any is connected to.
    private func vet(_ addresses: [IPAddress]) {
        eventLoop.assertInEventLoop()
        guard !isFinished else { return }
        let (verdict, culprit) = setup.policy.verdict(for: addresses)
        if case .refused(let range) = verdict {
            let shown = culprit.map { "\($0)" } ?? "no address"
            let what = setup.url.literalAddress == nil ? "\(setup.url.host) resolves to \(shown)" : shown
            finish(.failure(FetchError(.refusedAddress, "\(what), which is \(range)")))
            return
        }
        connect(addresses[...])
    }

    /// Connects to the vetted addresses in turn until one answers; never resolves again.
    private func connect(_ candidates: ArraySlice<IPAddress>) {
        eventLoop.assertInEventLoop()
        guard !isFinished, let address = candidates.first else { return }
        let socketAddress: SocketAddress
        do {
            socketAddress = try SocketAddress(packedIPAddress: ByteBuffer(bytes: address.bytes), port: setup.url.port)
        } catch {
            finish(.failure(FetchError(.connectionFailed, "\(address): \(error)")))
            return
        }
        let setup = self.setup
        let request = HTTPRequestHead(
            version: .http1_1, method: .GET, uri: setup.url.target,
            headers: [
                "Host": setup.url.hostHeader, "Accept": setup.accept, "User-Agent": setup.userAgent,
                "Connection": "close",
            ])
        ClientBootstrap(group: eventLoop)
            .connectTimeout(max(deadline - .now(), .milliseconds(1)))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if setup.url.usesTLS {
                        guard let tls = setup.tls else {
                            throw FetchError(.tlsFailed, "no TLS context")
                        }
                        // SNI and certificate name checks use the host name from the URL, not the
                        // address; for an address literal NIOSSL checks the certificate's IP SANs.
                        let hostname = setup.url.literalAddress == nil ? setup.url.host : nil
                        try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: hostname))
                    }
                    var limits = NIOHTTPDecoderLimitConfiguration()
                    limits.maxHeaderListSize = 16 * 1024
                    limits.maxHeaderFieldSize = 16 * 1024
                    limits.maxHeaderFieldCount = 200
                    try pipeline.addHTTPClientHandlers(decoderLimitConfiguration: limits)
                    try pipeline.addHandler(
                        FetchResponseCollector(request: request, maxBytes: setup.maxBytes, attempt: self))
                }
            }
            .connect(to: socketAddress)
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    if isFinished {
                        channel.close(promise: nil)
                    } else {
                        self.channel = channel
                    }
                case .failure(let error):
                    if candidates.count > 1 {
                        connect(candidates.dropFirst())
                    } else {
                        finish(.failure(FetchError(.connectionFailed, "\(address) port \(setup.url.port): \(error)")))
                    }
                }
            }
    }

    /// Completes the fetch once; later outcomes (a late resolver answer, the close that follows
    /// the response) are ignored. Closes the connection either way: the request said
    /// `Connection: close`, and a failed peer gets nothing more from us.
    func finish(_ result: Result<FetchedDocument, FetchError>, closing other: (any Channel)? = nil) {
        eventLoop.assertInEventLoop()
        guard !isFinished else { return }
        isFinished = true
        timeout?.cancel()
        channel?.close(promise: nil)
        if let other, other !== channel { other.close(promise: nil) }
        promise.completeWith(result.mapError { $0 })
    }
}
