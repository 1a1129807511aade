import Foundation

/// Finds where each HTTP/1.1 request in a byte stream ends, and reads the few headers the form
/// endpoints need, so `HTTPFastPath` can answer them without NIO's parser.
///
/// It knows just enough of RFC 9112 to frame a request with a `Content-Length` body or none. A
/// request it does not fully understand — another HTTP version, `Transfer-Encoding`, `Expect`,
/// folded or malformed header lines, a body over the limit — is `.unframeable`, and the
/// connection is handed to NIO's parser, which answers it (often with a 400) as it always did.
struct HTTPRequestScanner {
    /// One complete request. Ranges count from the first byte scanned.
    struct Request: Equatable {
        /// Bytes of the request, head and body.
        var length: Int
        /// The form endpoint this path may answer itself; nil for any other request, or one
        /// whose headers (`Connection`, a missing or non-form `Content-Type`) it leaves to Hummingbird.
        var endpoint: FormEndpoint?
        var authorization: Range<Int>?
        var body: Range<Int>
    }

    enum Scan: Equatable {
        /// More bytes are needed; they are bounded by the head and body limits.
        case incomplete
        case unframeable
        case request(Request)
    }

    var maxHeadSize = 16 * 1024
    var maxBodySize: Int

    func scan(_ bytes: UnsafeRawBufferPointer) -> Scan {
        guard let headLength = Self.headLength(bytes) else {
            // A head ended by bare LFs would never complete here; NIO's parser judges it.
            let bareLF = bytes.indices.contains { bytes[$0] == 0x0A && ($0 == 0 || bytes[$0 - 1] != 0x0D) }
            return bytes.count > maxHeadSize || bareLF ? .unframeable : .incomplete
        }
        guard headLength <= maxHeadSize else { return .unframeable }
        let head = UnsafeRawBufferPointer(rebasing: bytes[0..<(headLength - 2)])  // each line keeps its CRLF
        var lines = LineReader(head)
        guard let requestLine = lines.next(), let target = Self.formTarget(requestLine) else {
            return .unframeable
        }
        var contentLength: Int?
        var authorization: Range<Int>?
        var isForm = false
        var hasConnection = false
        while let line = lines.next() {
            guard let field = Self.field(line) else { return .unframeable }
            switch Self.headerName(head, field.name) {
            case .contentLength:
                guard contentLength == nil, let length = Self.decimal(head, field.value), length <= maxBodySize else {
                    return .unframeable
                }
                contentLength = length
            case .authorization: authorization = field.value
            case .contentType: isForm = HTTPShim.isForm(head[field.value])
            // CORS answers (`CORSMiddleware`) are Hummingbird's.
            case .connection, .origin: hasConnection = true
            case .handledByNIO: return .unframeable
            case .other: break
            }
        }
        let length = headLength + (contentLength ?? 0)
        guard bytes.count >= length else { return .incomplete }
        let answerable = target.isAnswerable && contentLength != nil && isForm && !hasConnection
        return .request(
            Request(
                length: length, endpoint: answerable ? target.endpoint : nil, authorization: authorization,
                body: headLength..<length))
    }

    /// The bytes up to and including the blank line that ends the head, if it has arrived.
    private static func headLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        var index = 3
        while index < bytes.count {
            // memchr finds each LF at memory speed; the check looks back for CR LF CR.
            guard let found = memchr(base + index, 0x0A, bytes.count - index) else { return nil }
            index = base.distance(to: UnsafeRawPointer(found))
            if bytes[index - 1] == 0x0D, bytes[index - 2] == 0x0A, bytes[index - 3] == 0x0D { return index + 1 }
            index += 1
        }
        return nil
    }

    /// The endpoint a request line names, if it is a form endpoint this path may answer.
    private struct Target {
        var endpoint: FormEndpoint?
        var isAnswerable: Bool { endpoint == .token || endpoint == .introspect || endpoint == .charge }
    }

    /// Parses `METHOD SP TARGET SP HTTP/1.1`; nil for anything else.
    private static func formTarget(_ line: Slice<UnsafeRawBufferPointer>) -> Target? {
        guard let methodEnd = line.firstIndex(of: UInt8(ascii: " ")), methodEnd > line.startIndex,
            line[line.startIndex..<methodEnd].allSatisfy(isTokenByte),
            let targetEnd = line[(methodEnd + 1)...].firstIndex(of: UInt8(ascii: " ")), targetEnd > methodEnd + 1,
            line[(methodEnd + 1)..<targetEnd].allSatisfy({ $0 > 0x20 && $0 != 0x7F }),
            line[(targetEnd + 1)...].elementsEqual("HTTP/1.1".utf8)
        else { return nil }
        let method = line[line.startIndex..<methodEnd]
        // CONNECT frames differently; NIO's parser deals with it.
        guard !method.elementsEqual("CONNECT".utf8) else { return nil }
        guard method.elementsEqual("POST".utf8) else { return Target() }
        let target = line[(methodEnd + 1)..<targetEnd]
        return Target(endpoint: FormEndpoint.allCases.first { target.elementsEqual($0.rawValue.utf8) })
    }

    /// Splits `name: value` (RFC 9110 §5.5), the value without surrounding whitespace; nil for a
    /// malformed line, or an obsolete folded one.
    private static func field(_ line: Slice<UnsafeRawBufferPointer>) -> (name: Range<Int>, value: Range<Int>)? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
            line[..<colon].allSatisfy(isTokenByte)
        else { return nil }
        var start = colon + 1
        var end = line.endIndex
        while start < end, line[start] == 0x20 || line[start] == 0x09 { start += 1 }
        while end > start, line[end - 1] == 0x20 || line[end - 1] == 0x09 { end -= 1 }
        guard line[start..<end].allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else { return nil }
        return (line.startIndex..<colon, start..<end)
    }

    private enum HeaderName {
        case contentLength, authorization, contentType, connection, origin
        /// Headers that change how the request is framed or answered at the connection level.
        case handledByNIO
        case other
    }

    private static func headerName(_ head: UnsafeRawBufferPointer, _ range: Range<Int>) -> HeaderName {
        let name = head[range]
        func named(_ text: StaticString) -> Bool {
            name.count == text.utf8CodeUnitCount
                && zip(name, UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)).allSatisfy {
                    $0 | 0x20 == $1
                }
        }
        switch name.count {
        case 6 where named("expect"): return .handledByNIO
        case 6 where named("origin"): return .origin
        case 7 where named("upgrade"): return .handledByNIO
        case 10 where named("connection"): return .connection
        case 12 where named("content-type"): return .contentType
        case 13 where named("authorization"): return .authorization
        case 14 where named("content-length"): return .contentLength
        case 17 where named("transfer-encoding"): return .handledByNIO
        default: return .other
        }
    }

    private static func decimal(_ head: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 12 else { return nil }
        var value = 0
        for byte in head[range] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// RFC 9110 §5.6.2 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

/// The CRLF-terminated lines of a request head; a bare CR or LF inside a line stays in it, and
/// the header-field checks refuse it.
private struct LineReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func next() -> Slice<UnsafeRawBufferPointer>? {
        var index = position
        while index + 1 < bytes.count {
            if bytes[index] == 0x0D, bytes[index + 1] == 0x0A {
                defer { position = index + 2 }
                return bytes[position..<index]
            }
            index += 1
        }
        return nil
    }
}
