import Authority
import Foundation
import NIOCore
import NIOHTTPTypes

/// Answers token and introspection POSTs straight from the socket's bytes, in front of NIO's
/// HTTP parser and Hummingbird's router.
///
/// For a call that takes microseconds, parsing into HTTP parts, converting them to HTTP types and
/// handing the request to a Swift task cost more than the call. This handler frames requests
/// itself (`HTTPRequestScanner`) and answers a form endpoint inline when
/// `HTTPShim.answer` is ready with a reply. Any other complete request — another path, a call that must
/// suspend (a durable write, a JWKS fetch), `Connection` headers — is passed on, as its bytes, to
/// NIO's parser and Hummingbird; while Hummingbird owes a response, nothing is answered here, so
/// pipelined responses stay in order. A request the scanner cannot frame hands the rest of the
/// connection to NIO for good.
///
/// Back-pressure: it stops reading (for Hummingbird too) while the channel is not writable, so a
/// peer that pipelines without reading its answers grows nothing but its own socket buffers. A
/// request head or body that was started must be complete within the request deadline.
final class HTTPFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let shim: HTTPShim
    private let scanner: HTTPRequestScanner
    /// Counts Hummingbird's answers to the requests passed on; it sits after the HTTP codec.
    let routerAnswers = RouterAnswerCounter()
    /// The start of a request whose remaining bytes have not arrived.
    private var unread: ByteBuffer?
    /// Once set, every byte goes to NIO's parser.
    private var handedOver = false
    /// The `Date` header (RFC 9110 §6.6.1), formatted at most once a second.
    private var date = (second: 0, text: "")
    /// A read was asked for while the channel was not writable.
    private var isReadPending = false
    private let deadline: PartialInputDeadline
    /// The peer's address, read once per connection for every request's `CallContext`.
    private var peer = ""

    init(shim: HTTPShim, requestDeadline: TimeAmount) {
        self.shim = shim
        self.scanner = HTTPRequestScanner(maxBodySize: shim.maxBodySize)
        self.deadline = PartialInputDeadline(deadline: requestDeadline)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        peer = context.channel.remoteAddress?.peerText ?? ""
    }

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            isReadPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if isReadPending, context.channel.isWritable {
            isReadPending = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !handedOver else { return context.fireChannelRead(data) }
        var bytes = unwrapInboundIn(data)
        if var start = unread {
            unread = nil
            start.writeBuffer(&bytes)
            bytes = start
        }
        while bytes.readableBytes > 0 {
            switch bytes.withUnsafeReadableBytes({ scanner.scan($0) }) {
            case .incomplete:
                // Keep only the partial request, not the requests answered before it.
                bytes.discardReadBytes()
                unread = bytes
                deadline.update(isMidRequest: true, context: context)
                return
            case .unframeable:
                handedOver = true
                deadline.cancel()
                return context.fireChannelRead(wrapInboundOut(bytes))
            case .request(let request):
                let started = DispatchTime.now().uptimeNanoseconds
                let reply = routerAnswers.owed == 0 ? answer(request, in: bytes) : nil
                // The scanner counted these bytes, so the slice exists.
                let requestBytes = bytes.readSlice(length: request.length)!
                if let reply, let endpoint = request.endpoint {
                    shim.metrics.http.record(
                        ServerMetrics.Call(path: endpoint.rawValue), since: started, error: reply.error)
                    context.write(wrapOutboundOut(serialize(reply, allocator: context.channel.allocator)), promise: nil)
                } else {
                    routerAnswers.owed += 1
                    context.fireChannelRead(wrapInboundOut(requestBytes))
                }
            }
        }
        deadline.update(isMidRequest: false, context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A connection that sent nothing for the idle timeout, and is owed nothing, is closed.
        // Once handed over, requests are no longer counted, so one may still be in progress.
        if event is IdleStateHandler.IdleStateEvent, !handedOver, routerAnswers.owed == 0 {
            context.close(promise: nil)
            return
        }
        if case .inputClosed = event as? ChannelEvent { handOver(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline.cancel()
        handOver(context: context)
        context.fireChannelInactive()
    }

    /// Passes any partial request on, so NIO's parser sees how the connection really ended.
    private func handOver(context: ChannelHandlerContext) {
        handedOver = true
        if let bytes = unread {
            unread = nil
            context.fireChannelRead(wrapInboundOut(bytes))
        }
    }

    /// The reply to a request this path may answer; nil when Hummingbird must.
    private func answer(_ request: HTTPRequestScanner.Request, in bytes: ByteBuffer) -> FormReply? {
        // The scanner names only endpoints whose answers are ready at once (never a revocation,
        // which waits for its write): a call started here and handed over would reach Authority
        // twice, and count twice against the client's rate limit.
        guard let endpoint = request.endpoint else { return nil }
        let authorization = request.authorization.flatMap {
            bytes.getString(at: bytes.readerIndex + $0.lowerBound, length: $0.count)
        }
        let body = bytes.getString(at: bytes.readerIndex + request.body.lowerBound, length: request.body.count) ?? ""
        do {
            // A reply that must wait is left to Hummingbird, which answers it in order.
            let form = try FormBody(body)
            let call = CallContext(.http, peer: peer)
            guard case .now(let reply) = shim.answer(endpoint, form: form, authorization: authorization, context: call)
            else { return nil }
            return reply
        } catch {
            return shim.errorReply(error, authorization: authorization)
        }
    }

    /// The whole response in one buffer, with the headers Hummingbird would send.
    private func serialize(_ reply: FormReply, allocator: ByteBufferAllocator) -> ByteBuffer {
        var out = allocator.buffer(capacity: 192 + reply.body.utf8.count)
        if reply.status == .ok {
            out.writeStaticString("HTTP/1.1 200 OK\r\n")
        } else {
            out.writeString("HTTP/1.1 \(reply.status.code) \(reply.status.reasonPhrase)\r\n")
        }
        out.writeString(reply.headerLines)
        out.writeStaticString("Content-Length: ")
        out.writeString(String(reply.body.utf8.count))
        out.writeStaticString("\r\nDate: ")
        out.writeString(currentDate())
        out.writeStaticString("\r\n\r\n")
        out.writeString(reply.body)
        return out
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

/// Counts the responses Hummingbird still owes for requests `HTTPFastPath` passed on.
final class RouterAnswerCounter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    var owed = 0

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // A response to a request never passed on (a 400 for one NIO could not parse) owes nothing back.
        if case .end = unwrapOutboundIn(data) { owed = max(0, owed - 1) }
        context.write(data, promise: promise)
    }
}
