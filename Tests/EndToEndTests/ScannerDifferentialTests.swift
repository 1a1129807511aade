import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Server

/// `HTTPRequestScanner` against NIO's HTTP parser over seeded, generated requests, whole and drip-fed.
///
/// Whatever the scanner frames as a request, NIO must parse the same way: one request, the same
/// method and target, the same `Authorization` value and body bytes, ending exactly where the
/// scanner says (a request it frames but leaves to Hummingbird may instead be one NIO refuses).
/// Every shorter prefix is `.incomplete` to both, and the scanner waits only where NIO would.
/// Anything else the scanner must leave to NIO (`.unframeable`), never guess.
@Suite struct ScannerDifferentialTests {
    /// A small seeded generator (SplitMix64), so a failure names the input that caused it.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
        mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
        mutating func pick<T>(_ options: [T]) -> T { options[below(options.count)] }
    }

    /// A request of the kinds clients send, with now and then something odd in it.
    static func request(_ random: inout Generator) -> [UInt8] {
        let method = random.pick(["POST", "POST", "POST", "GET", "PUT", "post", "DELETE"])
        let target = random.pick([
            "/oauth/token", "/oauth/introspect", "/oauth/revoke", "/healthz", "/x?y=1", "/oauth/token/",
        ])
        let version = random.chance(95) ? "HTTP/1.1" : random.pick(["HTTP/1.0", "HTTP/2.0", "HTTP/1.1 "])
        let body = String(repeating: random.pick(["a", "=", "&", "%20", "token=x"]), count: random.below(40))
        var headers: [String] = ["Host: 127.0.0.1"]
        if random.chance(80) {
            let declared = random.chance(90) ? body.utf8.count : body.utf8.count + random.below(5) - 2
            headers.append(
                random.pick(["Content-Length", "content-length", "CONTENT-LENGTH"]) + ":"
                    + random.pick([" ", "", "  ", "\t"]) + "\(max(0, declared))" + random.pick(["", " "]))
        }
        if random.chance(70) {
            headers.append(
                "Content-Type: "
                    + random.pick([
                        "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8",
                        "application/json", "text/plain",
                    ]))
        }
        if random.chance(60) {
            headers.append("Authorization: Basic " + random.pick(["YTpi", "YWRtaW46c2VjcmV0", "  padded  "]))
        }
        if random.chance(10) { headers.append("Connection: " + random.pick(["close", "keep-alive"])) }
        if random.chance(5) { headers.append("Transfer-Encoding: chunked") }
        if random.chance(5) { headers.append("Expect: 100-continue") }
        if random.chance(5) { headers.append("Content-Length: \(body.utf8.count)") }  // a second one
        if random.chance(4) { headers.append(" folded-continuation") }
        if random.chance(4) { headers.append("Bad Header: x") }
        if random.chance(3) { headers.append("X-Ctl: a\u{01}b") }
        if random.chance(30) { headers.append("X-Extra-\(random.below(100)): \(random.below(1_000_000))") }
        var text = "\(method) \(target) \(version)\r\n" + headers.joined(separator: "\r\n") + "\r\n\r\n" + body
        if random.chance(3) { text = text.replacingOccurrences(of: "\r\n", with: "\n") }
        return Array(text.utf8)
    }

    /// What NIO's parser makes of `bytes`: each request's head and body, and whether it ended.
    struct Parsed {
        var heads: [HTTPRequestHead] = []
        var bodies: [[UInt8]] = []
        var ends = 0
        var failed = false
    }

    static func nio(_ bytes: ArraySlice<UInt8>) throws -> Parsed {
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .fireError)))
        var parsed = Parsed()
        do {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
        } catch {
            parsed.failed = true
        }
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            switch part {
            case .head(let head):
                parsed.heads.append(head)
                parsed.bodies.append([])
            case .body(let buffer): parsed.bodies[parsed.bodies.count - 1] += Array(buffer.readableBytesView)
            case .end: parsed.ends += 1
            }
        }
        _ = try? channel.finish()
        return parsed
    }

    @Test(arguments: 0..<8)
    func theScannerFramesExactlyAsNIOParses(seed: UInt64) throws {
        var random = Generator(state: seed &* 7919 &+ 1)
        let scanner = HTTPRequestScanner(maxBodySize: 1024)
        var framed = 0
        for index in 0..<250 {
            let bytes = Self.request(&random)
            let label = "seed \(seed) input \(index): \(String(decoding: bytes, as: UTF8.self).debugDescription)"
            let scan = bytes.withUnsafeBytes { scanner.scan($0) }
            let request: HTTPRequestScanner.Request
            switch scan {
            case .unframeable:
                continue  // NIO's parser has it, whatever it is.
            case .incomplete:
                // Waiting is right only if NIO would wait too (a body still owed, say).
                #expect(try Self.nio(bytes[...]).ends == 0, "\(label): NIO ended a request the scanner waits on")
                continue
            case .request(let framed):
                request = framed
            }
            framed += 1
            // The scanner's request is the first one in the bytes (a body without Content-Length
            // is the start of the next request, for both parsers).
            let parsed = try Self.nio(bytes[..<request.length])
            if request.endpoint == nil, parsed.failed {
                // Framed but not answered here: the bytes go to NIO, which refuses them (a
                // lowercase method, say) with its own 400. Nothing was guessed.
                continue
            }
            #expect(!parsed.failed && parsed.heads.count == 1 && parsed.ends == 1, "\(label): NIO parsed \(parsed)")
            guard let head = parsed.heads.first else { continue }
            let requestLine = bytes.prefix { $0 != 0x0D }.split(separator: 0x20).map {
                String(decoding: $0, as: UTF8.self)
            }
            #expect(head.method.rawValue == requestLine[0] && head.uri == requestLine[1], "\(label)")
            #expect(parsed.bodies.first ?? [] == Array(bytes[request.body]), "\(label)")
            let authorization = request.authorization.map { String(decoding: bytes[$0], as: UTF8.self) }
            // RFC 9110 §5.5: whitespace around a field value is not part of it; NIO keeps trailing spaces.
            let nioAuthorization = head.headers.first(name: "authorization").map {
                String($0.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
            }
            #expect(authorization == nioAuthorization, "\(label)")
            // Drip-fed: every shorter prefix is incomplete, to the scanner and to NIO alike.
            for cut in stride(from: 0, to: request.length, by: max(1, request.length / 16)) {
                let prefix = bytes.prefix(cut)
                #expect(prefix.withUnsafeBytes { scanner.scan($0) } == .incomplete, "\(label) cut at \(cut)")
                #expect(try Self.nio(prefix).ends == 0, "\(label): NIO ended a request at \(cut)")
            }
        }
        // The generator exercises both outcomes.
        #expect(framed > 50 && framed < 250, "seed \(seed) framed \(framed) of 250")
    }
}
