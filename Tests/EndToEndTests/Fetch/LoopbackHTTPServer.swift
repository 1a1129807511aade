import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A tiny HTTP/1.1 server on 127.0.0.1, port 0, that misbehaves on request: what a hostile or
/// broken `jwks_uri` host would do. Counts connections and requests, so a test can show a
/// refused URL was never even connected to. Optionally TLS, recording the SNI it was sent.
final class LoopbackHTTPServer: Sendable {
    enum Route: Sendable {
        /// 200 with the body; `chunked` leaves Content-Length out (the fetcher must count).
        case document([UInt8], chunked: Bool = false)
        case redirect(String, status: Int = 302)
        case status(Int)
        /// 200 and a Content-Length of `length`, then one byte every `interval`.
        case trickle(length: Int, interval: TimeAmount)
        /// 200, chunked, and 16 KiB chunks for as long as the connection stays open.
        case endless
        /// 200 with the body after `delay`.
        case delayed([UInt8], delay: TimeAmount)
    }

    private struct State {
        var routes: [String: Route] = [:]
        var connections = 0
        var requests: [String: Int] = [:]
        var serverNames: [String] = []
    }

    /// One lock shared by the server and its connections' handlers.
    private final class Shared: Sendable {
        let state = Mutex(State())
        func withLock<T>(_ body: (inout State) -> T) -> T { state.withLock { body(&$0) } }
    }

    private let state = Shared()
    private let channel: any Channel
    let port: Int

    /// - Parameter tls: certificate chain and key to serve https with.
    init(tls: (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey)? = nil) async throws {
        let state = self.state
        let context: NIOSSLContext? = try tls.map { tls in
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: tls.chain.map { .certificate($0) }, privateKey: .privateKey(tls.key))
            configuration.sslContextCallback = { values, promise in
                state.withLock { $0.serverNames.append(values.serverHostname ?? "") }
                promise.succeed(.init())
            }
            return try NIOSSLContext(configuration: configuration)
        }
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                state.withLock { $0.connections += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let context { try pipeline.addHandler(NIOSSLServerHandler(context: context)) }
                    try pipeline.configureHTTPServerPipeline()
                    try pipeline.addHandler(Responder(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
    }

    func serve(_ path: String, _ route: Route) { state.withLock { $0.routes[path] = route } }
    func url(_ path: String, scheme: String = "http", host: String = "127.0.0.1") -> String {
        "\(scheme)://\(host):\(port)\(path)"
    }
    var connections: Int { state.withLock { $0.connections } }
    func requests(_ path: String) -> Int { state.withLock { $0.requests[path] ?? 0 } }
    var serverNames: [String] { state.withLock { $0.serverNames } }

    func close() async throws { try await channel.close() }

    private final class Responder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let state: Shared
        var route: Route?

        init(state: Shared) { self.state = state }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                let path = String(head.uri.split(separator: "?", omittingEmptySubsequences: false).first ?? "")
                route = state.withLock { state in
                    state.requests[path, default: 0] += 1
                    return state.routes[path]
                }
            case .body:
                break
            case .end:
                respond(context, route ?? .status(404))
            }
        }

        private func respond(_ context: ChannelHandlerContext, _ route: Route) {
            func head(_ status: Int, _ headers: HTTPHeaders) {
                let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers)
                context.write(wrapOutboundOut(.head(head)), promise: nil)
            }
            func body(_ bytes: [UInt8]) {
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: bytes)))), promise: nil)
            }
            func end() { context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil) }
            switch route {
            case .document(let bytes, let chunked):
                head(200, chunked ? ["Content-Type": "application/json"] : ["Content-Length": "\(bytes.count)"])
                body(bytes)
                end()
            case .redirect(let location, let status):
                head(status, ["Location": location, "Content-Length": "0"])
                end()
            case .status(let status):
                head(status, ["Content-Length": "0"])
                end()
            case .delayed(let bytes, let delay):
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: delay) {
                    let (responder, context) = loopBound.value
                    responder.respond(context, .document(bytes))
                }
            case .endless:
                head(200, [:])
                context.flush()
                stream(context)
            case .trickle(let length, let interval):
                head(200, ["Content-Length": "\(length)"])
                context.flush()
                trickle(context, remaining: length, interval: interval)
            }
        }

        private func stream(_ context: ChannelHandlerContext) {
            guard context.channel.isActive else { return }
            let chunk = ByteBuffer(repeating: UInt8(ascii: " "), count: 16 * 1024)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk)))).whenSuccess {
                let (responder, context) = loopBound.value
                responder.stream(context)
            }
        }

        private func trickle(_ context: ChannelHandlerContext, remaining: Int, interval: TimeAmount) {
            guard remaining > 0, context.channel.isActive else { return }
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: " ")))), promise: nil)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: interval) {
                let (responder, context) = loopBound.value
                responder.trickle(context, remaining: remaining - 1, interval: interval)
            }
        }
    }
}

/// A self-signed certificate for `localhost` (DNS SAN only), valid from 2025 to 2125, and its
/// key. Test-only. Made with OpenSSL 3.0: `openssl req -new -newkey ec -pkeyopt
/// ec_paramgen_curve:prime256v1 -nodes` (CN=localhost), then `openssl ca -selfsign -startdate
/// 20250101000000Z -enddate 21250101000000Z` with `subjectAltName = DNS:localhost`.
enum TestCertificate {
    static let certificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIBYDCCAQegAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv
        c3QwIBcNMjUwMTAxMDAwMDAwWhgPMjEyNTAxMDEwMDAwMDBaMBQxEjAQBgNVBAMM
        CWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJW5X2z5rCiQtW1L
        RzpXbMUW39Ze+JyFkeGfVpskIm2k052yVCbXMFP0gWxYW9R/u3oiCp3fvV/8BR/3
        jMeYu0yjSDBGMBQGA1UdEQQNMAuCCWxvY2FsaG9zdDAPBgNVHRMBAf8EBTADAQH/
        MB0GA1UdDgQWBBR3wJPQMzqvqSPthYlh9MEuPX0b4TAKBggqhkjOPQQDAgNHADBE
        AiBM0ghgjiiu+Vm7yl/OSSX+pGo0ITAMY2oTU5/WhpVIWgIgJk3EfrP3FEpHOgK2
        s3vaHOi9LiMiXErquCFAd22ie1A=
        -----END CERTIFICATE-----
        """
    static let keyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgiNhEyU2zoEWOp7HM
        VnQwWHbSmfiINlIjfHedKGMPqgKhRANCAASVuV9s+awokLVtS0c6V2zFFt/WXvic
        hZHhn1abJCJtpNOdslQm1zBT9IFsWFvUf7t6Igqd371f/AUf94zHmLtM
        -----END PRIVATE KEY-----
        """

    static func load() throws -> (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) {
        (
            [try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem)],
            try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        )
    }
}
