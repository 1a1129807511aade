import NIOCore
import SwiftProtobuf

/// Splits a byte stream into frames: a 4-byte big-endian length N, then N bytes of payload.
///
/// Unlike NIOExtras' length-field decoder this one refuses a frame longer than `maxFrameSize`
/// as soon as its length is read, so an oversized frame is never buffered.
public struct FrameDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = ByteBuffer

    public let maxFrameSize: Int

    public init(maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return .needMoreData
        }
        guard Int(length) <= maxFrameSize else {
            throw WireError.frameTooLarge(size: Int(length), limit: maxFrameSize)
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        // readableBytes was checked above.
        let frame = buffer.readSlice(length: Int(length))!
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        // A truncated frame at disconnect is dropped: its sender is gone and cannot be answered.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}

/// Writes each outbound payload as one length-prefixed frame.
public struct FrameEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = ByteBuffer

    public init() {}

    public func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        out.writeInteger(UInt32(data.readableBytes), endianness: .big)
        out.writeImmutableBuffer(data)
    }
}

extension ByteBuffer {
    /// Writes `message` as one frame: its 4-byte big-endian length, then its bytes. The server's
    /// answers and its refusals are written this way.
    public mutating func writeFrame(_ message: some SwiftProtobuf.Message) {
        // Serializing a fully built message cannot fail (proto3 has no required fields).
        let bytes: [UInt8] = (try? message.serializedBytes()) ?? []
        reserveCapacity(minimumWritableBytes: 4 + bytes.count)
        writeInteger(UInt32(bytes.count), endianness: .big)
        writeBytes(bytes)
    }
}

/// Errors of the framed protocol.
public enum WireError: Error, Equatable, CustomStringConvertible {
    /// Whether a frame length read from the server is really a TLS record's header: content type
    /// 20–23 (an alert, most likely, refusing our plain text), then version 3.x.
    static func isTLSRecordHeader(_ length: Int) -> Bool {
        (20...23).contains(length >> 24) && (length >> 16) & 0xFF == 3
    }

    case frameTooLarge(size: Int, limit: Int)
    case connectionClosed
    case malformedResponse
    case timeout
    /// The connection's TLS handshake failed; `reason` is e.g. `certificate verify failed`.
    case tlsHandshakeFailed(reason: String)
    /// A file meant to hold trusted certificates holds none.
    case noCertificates(path: String)
    /// A plain-text client read a TLS record where a frame should be: the server speaks TLS.
    case serverSpeaksTLS

    public var description: String {
        switch self {
        case .frameTooLarge(let size, let limit): "frame of \(size) bytes exceeds the maximum of \(limit) bytes"
        case .connectionClosed: "the connection closed before a response arrived"
        case .malformedResponse: "the server sent a frame that is not a valid Response"
        case .timeout: "no response in time"
        case .tlsHandshakeFailed(let reason): "TLS handshake failed: \(reason)"
        case .noCertificates(let path): "\(path) holds no PEM certificate"
        case .serverSpeaksTLS: "the server speaks TLS; connect with TLS"
        }
    }
}
