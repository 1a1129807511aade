import NIOCore
import NIOPosix
import SwiftProtobuf
import Synchronization

/// A client of the binary protocol over one TCP connection.
///
/// Calls may be made concurrently: each gets its own request id, all travel pipelined on the
/// connection, and responses are matched back by id in whatever order they arrive.
public final class WireClient: Sendable {
    private let channel: Channel
    private let nextID = Atomic<UInt64>(1)

    private init(channel: Channel) {
        self.channel = channel
    }

    /// Connects to `host:port`, over TLS when `tls` is given.
    ///
    /// With TLS it returns once the handshake has completed, or throws
    /// `WireError.tlsHandshakeFailed` with the reason (`certificate verify failed`, …); the
    /// handshake has `connectTimeout` too.
    public static func connect(
        host: String,
        port: Int,
        tls: TLS? = nil,
        maxFrameSize: Int = 1 << 20,
        connectTimeout: TimeAmount = .seconds(5),
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> WireClient {
        // Completed from the connection's event loop; any loop's promise may be.
        let handshake = tls.map { _ in group.next().makePromise(of: Void.self) }
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(connectTimeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls, let handshake {
                            try channel.pipeline.syncOperations.addHandlers(
                                try tls.handlers(host: host, handshake: handshake, timeout: connectTimeout))
                        }
                        try channel.pipeline.syncOperations.addHandlers([
                            ByteToMessageHandler(FrameDecoder(maxFrameSize: maxFrameSize)),
                            MessageToByteHandler(FrameEncoder()),
                            ResponseMatcher(),
                        ])
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            handshake?.fail(error)
            throw error
        }
        if let handshake {
            do {
                try await handshake.futureResult.get()
            } catch {
                try? await channel.close()
                throw error
            }
        }
        return WireClient(channel: channel)
    }

    /// Sends `request` (its id is assigned here) and waits for the matching response.
    /// - Parameter timeout: fails with `WireError.timeout` if no response comes in time.
    public func call(_ request: Authsec_V1_Request, timeout: TimeAmount? = nil) async throws -> Authsec_V1_Response {
        var request = request
        request.id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let payload = try channel.allocator.buffer(bytes: request.serializedBytes() as [UInt8])
        let promise = channel.eventLoop.makePromise(of: Authsec_V1_Response.self)
        if let timeout {
            // A late response completes an already failed promise, which NIO ignores.
            let expiry = channel.eventLoop.scheduleTask(in: timeout) { promise.fail(WireError.timeout) }
            promise.futureResult.whenComplete { _ in expiry.cancel() }
        }
        // A write that never reaches the matcher (the connection already closed) fails the call
        // instead of leaving it waiting forever.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { promise.fail($0) }
        // No flush here: the matcher flushes once per event-loop turn for every call written in it.
        channel.write(PendingCall(id: request.id, payload: payload, promise: promise), promise: written)
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            promise.fail(CancellationError())
        }
    }

    /// Sends raw bytes as one frame, for tests of malformed input.
    public func sendRawFrame(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(RawFrame(bytes: bytes))
    }

    public func close() async {
        try? await channel.close()
    }

    /// Whether the connection is still open.
    public var isActive: Bool { channel.isActive }
}

struct PendingCall {
    let id: UInt64
    let payload: ByteBuffer
    let promise: EventLoopPromise<Authsec_V1_Response>
}

struct RawFrame {
    let bytes: [UInt8]
}

/// Remembers each request's promise by id and completes it when its response arrives.
final class ResponseMatcher: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Any
    typealias OutboundOut = ByteBuffer

    private var pending: [UInt64: EventLoopPromise<Authsec_V1_Response>] = [:]
    /// Responses with id 0 answer a frame the server could not decode; surfaced to the oldest caller.
    private var order: [UInt64] = []
    private let flush = CoalescedFlush()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let message = unwrapOutboundIn(data)
        if let call = message as? PendingCall {
            pending[call.id] = call.promise
            order.append(call.id)
            context.write(wrapOutboundOut(call.payload), promise: promise)
            flush.schedule(context)
        } else if let raw = message as? RawFrame {
            context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: raw.bytes)), promise: promise)
        } else {
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard let response = try? Authsec_V1_Response(serializedBytes: Array(frame.readableBytesView)) else {
            failAll(WireError.malformedResponse)
            context.close(promise: nil)
            return
        }
        var id = response.id
        if id == 0, let oldest = order.first(where: { pending[$0] != nil }) { id = oldest }
        if let promise = pending.removeValue(forKey: id) {
            promise.succeed(response)
        }
        if order.count > 1024 { order.removeAll { pending[$0] == nil } }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(WireError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if case WireError.frameTooLarge(let size, _)? = error as? WireError, WireError.isTLSRecordHeader(size) {
            failAll(WireError.serverSpeaksTLS)
        } else {
            failAll(error)
        }
        context.close(promise: nil)
    }

    private func failAll(_ error: Error) {
        let promises = pending.values
        pending.removeAll()
        order.removeAll()
        for promise in promises { promise.fail(error) }
    }
}
