import NIOCore
import NIOSSL
import NIOTLS

extension WireClient {
    /// How a client speaks TLS to the wire door: what it trusts, built once and shared by every
    /// connection that uses it.
    public struct TLS: Sendable {
        let context: NIOSSLContext

        /// - Parameter configuration: a client configuration; its `minimumTLSVersion` is raised
        ///   to TLS 1.2 if lower (the server accepts nothing older). The server's name is checked
        ///   against its certificate (a DNS name, or the IP address connected to).
        public init(configuration: TLSConfiguration) throws {
            var configuration = configuration
            if [.tlsv1, .tlsv11].contains(configuration.minimumTLSVersion) {
                configuration.minimumTLSVersion = .tlsv12
            }
            context = try NIOSSLContext(configuration: configuration)
        }

        /// Trusts the CA certificates in a PEM file (and nothing else).
        public static func trusting(caFile path: String) throws -> TLS {
            let certificates = try NIOSSLCertificate.fromPEMFile(path)
            guard !certificates.isEmpty else { throw WireError.noCertificates(path: path) }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .certificates(certificates)
            return try TLS(configuration: configuration)
        }

        /// Trusts the system's CA store.
        public static var systemTrust: TLS {
            get throws { try TLS(configuration: .makeClientConfiguration()) }
        }

        /// The handlers that come first on a connection to `host`; `handshake` completes with the
        /// handshake, or fails with `WireError.tlsHandshakeFailed`.
        public func handlers(host: String, handshake: EventLoopPromise<Void>, timeout: TimeAmount) throws
            -> [ChannelHandler]
        {
            // SNI and name checks take a DNS name; for an IP address NIOSSL checks the address connected to.
            let isIPAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
            return [
                try NIOSSLClientHandler(context: context, serverHostname: isIPAddress ? nil : host),
                HandshakeWaiter(promise: handshake, timeout: timeout, host: host),
            ]
        }
    }
}

/// Completes a promise when the TLS handshake does, or fails it with `WireError.tlsHandshakeFailed`
/// and a reason a person can act on; then leaves the pipeline.
final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let promise: EventLoopPromise<Void>
    private let timeout: TimeAmount
    private let host: String
    private var timer: Scheduled<Void>?

    init(promise: EventLoopPromise<Void>, timeout: TimeAmount, host: String) {
        self.promise = promise
        self.timeout = timeout
        self.host = host
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        let promise = self.promise
        timer = context.eventLoop.scheduleTask(in: timeout) {
            promise.fail(WireError.tlsHandshakeFailed(reason: "no answer in time"))
            channel.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            timer?.cancel()
            promise.succeed(())
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        timer?.cancel()
        promise.fail(WireError.tlsHandshakeFailed(reason: Self.reason(error, host: host)))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        promise.fail(WireError.tlsHandshakeFailed(reason: "the server closed the connection"))
        context.fireChannelInactive()
    }

    /// `certificate verify failed`, `wrong version number`, … from BoringSSL's error names.
    static func reason(_ error: any Error, host: String) -> String {
        switch error {
        case let error as NIOSSLExtraError where error == .failedToValidateHostname:
            return "the server's certificate is not for \(host)"
        case NIOSSLError.handshakeFailed(.sslError(let stack)):
            let names = stack.compactMap { entry -> String? in
                let text = entry.description
                guard let range = text.range(of: "OPENSSL_internal:") else {
                    return text.contains("EOF during handshake") ? "the server closed the connection" : nil
                }
                let name = text[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                return String(name.lowercased().map { $0 == "_" ? " " : $0 })
            }
            guard let first = names.first else { return "\(error)" }
            // A plain-text server answers a ClientHello with bytes that are no TLS record.
            return first == "wrong version number" ? "\(first) (is the server speaking TLS?)" : first
        default:
            return "\(error)"
        }
    }
}
