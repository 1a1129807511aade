import Testing

@testable import Server

/// The fast path's framing: it must find exactly where each request ends, and hand anything it
/// does not fully understand to NIO's parser rather than guess.
@Suite struct HTTPRequestScannerTests {
    let scanner = HTTPRequestScanner(maxBodySize: 1024)
    let body = "grant_type=client_credentials"

    func scan(_ text: String) -> HTTPRequestScanner.Scan {
        Array(text.utf8).withUnsafeBytes { scanner.scan($0) }
    }

    func tokenRequest(_ extraHeaders: String = "", body: String? = nil) -> String {
        let body = body ?? self.body
        return "POST /oauth/token HTTP/1.1\r\nHost: x\r\nauthorization:  Basic YTpi \r\n"
            + "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + extraHeaders + "\r\n" + body
    }

    func slice(_ text: String, _ range: Range<Int>?) -> String? {
        range.map { String(decoding: Array(text.utf8)[$0], as: UTF8.self) }
    }

    @Test func aTokenPostIsFramedWithItsCredentialsAndBody() throws {
        let text = tokenRequest()
        guard case .request(let request) = scan(text + "GET /healthz HTTP/1.1\r\n\r\n") else {
            Issue.record("not framed")
            return
        }
        #expect(request.length == text.utf8.count)
        #expect(request.endpoint == .token)
        #expect(slice(text, request.authorization) == "Basic YTpi")
        #expect(slice(text, request.body) == body)
    }

    @Test func partialRequestsWaitForTheirBytes() {
        let text = tokenRequest()
        #expect(scan(String(text.prefix(40))) == .incomplete)
        #expect(scan(String(text.dropLast(3))) == .incomplete)
    }

    @Test func otherRequestsAreFramedForHummingbird() throws {
        let get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        #expect(
            scan(get)
                == .request(
                    .init(
                        length: get.utf8.count, endpoint: nil, authorization: nil, body: get.utf8.count..<get.utf8.count
                    )))
        let revoke = tokenRequest().replacingOccurrences(of: "/oauth/token", with: "/oauth/revoke")
        guard case .request(let request) = scan(revoke) else {
            Issue.record("revoke not framed")
            return
        }
        #expect(request.endpoint == nil)
        #expect(request.length == revoke.utf8.count)
    }

    @Test func headersThatChangeTheAnswerLeaveItToHummingbird() {
        for variant in [
            tokenRequest("Connection: close\r\n"),
            tokenRequest().replacingOccurrences(of: "application/x-www-form-urlencoded", with: "application/json"),
            tokenRequest().replacingOccurrences(of: "POST /oauth/token ", with: "POST /oauth/token?x=1 "),
            tokenRequest().replacingOccurrences(of: "POST", with: "PUT"),
        ] {
            guard case .request(let request) = scan(variant) else {
                Issue.record("not framed: \(variant)")
                continue
            }
            #expect(request.endpoint == nil, "\(variant)")
        }
    }

    @Test func whatItCannotFrameGoesToNIO() {
        let chunked =
            "POST /oauth/token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
            + "Content-Type: application/x-www-form-urlencoded\r\n\r\n1d\r\n\(body)\r\n0\r\n\r\n"
        let cases = [
            chunked,
            tokenRequest("Expect: 100-continue\r\n"),
            tokenRequest().replacingOccurrences(of: "HTTP/1.1", with: "HTTP/1.0"),
            tokenRequest("X-Folded: a\r\n b\r\n"),
            tokenRequest("Content-Length: 29\r\n"),  // a second Content-Length
            tokenRequest(body: String(repeating: "a", count: 1025)),  // over the body limit: Hummingbird's 413
            tokenRequest("Bad Header: x\r\n"),
            tokenRequest("X-Control: a\u{1}b\r\n"),
            "GET /healthz HTTP/1.1\nHost: x\n\n",  // bare LF line ends
            "GET /healthz HTTP/1.1\r\nX: " + String(repeating: "a", count: 17 * 1024),  // head over the limit
            "\r\nGET /healthz HTTP/1.1\r\n\r\n",
            "CONNECT example.com:443 HTTP/1.1\r\n\r\n",
        ]
        for text in cases {
            #expect(scan(text) == .unframeable, "\(text.prefix(80))")
        }
    }
}
