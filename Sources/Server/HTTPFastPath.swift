import Foundation
import Hummingbird
import NIOHTTPTypes
import NIOCore

/// Answers token and introspection POSTs on the event loop that read them, in front of
/// Hummingbird's router.
///
/// Hummingbird hands every request to a Swift task and its response back to the channel; for a
/// call that takes microseconds that round trip costs more than the call. This handler sits
/// after the HTTP codec and answers the form endpoints inline when `HTTPShim.answerImmediately`
/// can. Everything else — other paths, a call that must suspend (a durable write, a JWKS fetch),
/// a body without `Content-Length`, `Connection` or `Expect` headers — goes on to Hummingbird unchanged, and
/// while Hummingbird owes a response nothing is answered here, so pipelined responses stay in order.
final class HTTPFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private struct Pending {
        let endpoint: FormEndpoint
        let head: HTTPRequest
        var body: ByteBuffer
    }

    private let shim: HTTPShim
    /// Requests passed to Hummingbird whose response has not been written yet.
    private var owedByRouter = 0
    /// A request this handler is collecting to answer itself.
    private var pending: Pending?
    /// The `Date` header (RFC 9110 §6.6.1), formatted at most once a second.
    private var date = (second: 0, text: "")

    init(shim: HTTPShim) {
        self.shim = shim
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if let endpoint = claim(head) {
                pending = Pending(endpoint: endpoint, head: head, body: context.channel.allocator.buffer(capacity: 0))
            } else {
                owedByRouter += 1
                context.fireChannelRead(data)
            }
        case .body(var chunk):
            guard var request = pending else { return context.fireChannelRead(data) }
            pending = nil  // `request` holds the only reference, so the append below copies nothing extra
            if request.body.readableBytes == 0 { request.body = chunk } else { request.body.writeBuffer(&chunk) }
            pending = request
        case .end:
            guard let request = pending else { return context.fireChannelRead(data) }
            pending = nil
            answer(request, context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // A response to a request it never saw (a 400 for a malformed one) owes nothing back.
        if case .end = unwrapOutboundIn(data) { owedByRouter = max(0, owedByRouter - 1) }
        context.write(data, promise: promise)
    }

    /// The endpoint of a request this handler may answer, if it is one.
    private func claim(_ head: HTTPRequest) -> FormEndpoint? {
        guard owedByRouter == 0, head.method == .post, let path = head.path,
            let endpoint = FormEndpoint(rawValue: path), endpoint != .revoke,
            head.headerFields[.connection] == nil, head.headerFields[.expect] == nil,
            HTTPShim.isForm(head.headerFields[.contentType]),
            let length = head.headerFields[.contentLength].flatMap(Int.init), length <= shim.maxBodySize
        else { return nil }
        return endpoint
    }

    private func answer(_ request: Pending, context: ChannelHandlerContext) {
        let authorization = request.head.headerFields[.authorization]
        let reply: FormReply?
        do {
            let form = try FormBody(String(buffer: request.body))
            reply = shim.answerImmediately(request.endpoint, form: form, authorization: authorization)
        } catch {
            reply = shim.errorReply(error, authorization: authorization)
        }
        guard let reply else {
            // It must suspend: Hummingbird answers it, and everything after it, in order.
            owedByRouter += 1
            context.fireChannelRead(wrapInboundOut(.head(request.head)))
            context.fireChannelRead(wrapInboundOut(.body(request.body)))
            context.fireChannelRead(wrapInboundOut(.end(nil)))
            return
        }
        let body = context.channel.allocator.buffer(string: reply.body)
        var fields = reply.headerFields
        fields[.contentLength] = String(body.readableBytes)
        fields[.date] = currentDate()
        context.write(wrapOutboundOut(.head(HTTPResponse(status: reply.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// Now as an IMF-fixdate, e.g. `Sun, 29 Nov 2026 07:47:57 GMT`.
    private func currentDate() -> String {
        var now = time(nil)
        guard now != date.second else { return date.text }
        var parts = tm()
        gmtime_r(&now, &parts)
        var text = [CChar](repeating: 0, count: 64)
        let length = strftime(&text, text.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        date = (now, String(decoding: text.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        return date.text
    }
}
