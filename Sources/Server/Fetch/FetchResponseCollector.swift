import NIOCore
import NIOHTTP1
import NIOSSL

/// Sends the GET when the connection opens and collects the response: only a 200 with a body
/// within the cap succeeds; a redirect, any other status, an oversized body (announced or
/// received), a broken message or an early close fails the attempt at once.
final class FetchResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let request: HTTPRequestHead
    private let maxBytes: Int
    private let attempt: FetchAttempt
    private var body: [UInt8] = []
    private var maxAge: Int64?
    private var isDone = false

    init(request: HTTPRequestHead, maxBytes: Int, attempt: FetchAttempt) {
        self.request = request
        self.maxBytes = maxBytes
        self.attempt = attempt
    }

    func channelActive(context: ChannelHandlerContext) {
        // Written before the TLS handshake ends; NIOSSL holds it until the handshake is done.
        context.write(wrapOutboundOut(.head(request)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isDone else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            let code = head.status.code
            if (300..<400).contains(code) {
                return fail(context, FetchError(.redirected, "answered \(code); redirects are not followed"))
            }
            guard code == 200 else { return fail(context, FetchError(.badStatus, "answered \(code)")) }
            maxAge = FetchedDocument.maxAge(cacheControl: head.headers["cache-control"].joined(separator: ","))
            if let announced = head.headers.first(name: "content-length").flatMap(Int.init) {
                guard announced <= maxBytes else {
                    return fail(context, FetchError(.tooLarge, "announces \(announced) bytes; the cap is \(maxBytes)"))
                }
                body.reserveCapacity(announced)
            }
        case .body(let buffer):
            guard body.count + buffer.readableBytes <= maxBytes else {
                return fail(context, FetchError(.tooLarge, "body passed the cap of \(maxBytes) bytes"))
            }
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            isDone = true
            attempt.finish(.success(FetchedDocument(body: body, maxAge: maxAge)), closing: context.channel)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case is NIOSSLError, is NIOSSLExtraError, is BoringSSLError:
            fail(context, FetchError(.tlsFailed, "\(error)"))
        case is HTTPParserError:
            fail(context, FetchError(.malformedResponse, "\(error)"))
        default:
            fail(context, FetchError(.connectionFailed, "\(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(context, FetchError(.malformedResponse, "the connection closed before the response ended"))
        context.fireChannelInactive()
    }

    private func fail(_ context: ChannelHandlerContext, _ error: FetchError) {
        guard !isDone else { return }
        isDone = true
        attempt.finish(.failure(error), closing: context.channel)
    }
}
