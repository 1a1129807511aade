import NIOCore
import Testing
import Wire

@Suite struct ResponseHeaderTests {
    func frame(_ response: Authsec_V1_Response) throws -> ByteBuffer {
        ByteBuffer(bytes: try response.serializedBytes() as [UInt8])
    }

    @Test func aSuccessfulAnswerGivesItsIDWithoutDecoding() throws {
        var answer = Authsec_V1_Response()
        answer.id = 300  // two varint bytes
        var token = Authsec_V1_TokenResponse()
        token.accessToken = String(repeating: "x", count: 600)
        token.expiresIn = 3600
        answer.token = token
        #expect(ResponseHeader.successfulID(try frame(answer)) == 300)
        answer.status = Authsec_V1_Status()  // present and empty: code OK
        #expect(ResponseHeader.successfulID(try frame(answer)) == 300)
        var whole = try frame(answer)
        #expect(ResponseHeader.successfulID(whole.readSlice(length: whole.readableBytes - 1)!) == nil)  // cut short
    }

    @Test func aRefusalOrBrokenBytesGiveNothing() throws {
        var refused = Authsec_V1_Response()
        refused.id = 7
        refused.status.code = .unauthenticated
        refused.status.error = "invalid_client"
        #expect(ResponseHeader.successfulID(try frame(refused)) == nil)
        #expect(ResponseHeader.successfulID(ByteBuffer(bytes: [0x08, 0xFF])) == nil)  // varint cut short
        #expect(ResponseHeader.successfulID(ByteBuffer(bytes: [0x0B])) == nil)  // a group: not ours
    }
}
