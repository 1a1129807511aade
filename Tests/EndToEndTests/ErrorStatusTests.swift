import Authority
import Hummingbird
import Testing
import Wire

@testable import Server

/// Each door's spelling of every error code, against the RFCs' table written out here: a new
/// code without a row, or a changed mapping, fails.
@Suite struct ErrorStatusTests {
    static let expected: [AuthorityError.Code: (http: Int, wire: Authsec_V1_Status.Code)] = [
        .invalidRequest: (400, .invalidArgument),  // RFC 6749 §5.2
        .invalidClient: (401, .unauthenticated),  // RFC 6749 §5.2
        .invalidGrant: (400, .invalidArgument),
        .unauthorizedClient: (400, .permissionDenied),
        .unsupportedGrantType: (400, .invalidArgument),
        .invalidScope: (400, .invalidArgument),
        .invalidTarget: (400, .invalidArgument),  // RFC 8707 §2
        .unsupportedTokenType: (400, .invalidArgument),  // RFC 7009 §2.2.1
        .invalidToken: (401, .unauthenticated),  // RFC 6750 §3.1
        .insufficientScope: (403, .permissionDenied),  // RFC 6750 §3.1
        .accessDenied: (403, .permissionDenied),
        .unsupportedResponseType: (400, .invalidArgument),  // RFC 6749 §4.1.2.1 (sent as a redirect)
        .loginRequired: (400, .failedPrecondition),  // OpenID Connect Core §3.1.2.6 (a redirect)
        .consentRequired: (400, .failedPrecondition),
        .invalidRequestURI: (400, .invalidArgument),
        .authorizationPending: (400, .failedPrecondition),  // RFC 8628 §3.5
        .slowDown: (400, .resourceExhausted),
        .expiredToken: (400, .invalidArgument),
        .invalidClientMetadata: (400, .invalidArgument),  // RFC 7591 §3.2.2
        .invalidRedirectURI: (400, .invalidArgument),
        .notFound: (404, .notFound),
        .alreadyExists: (409, .alreadyExists),
        .failedPrecondition: (409, .failedPrecondition),
        .storageFull: (507, .resourceExhausted),
        .rateLimited: (429, .resourceExhausted),  // RFC 6585 §4
        .quotaExhausted: (429, .resourceExhausted),
        .serverError: (500, .internal),
        .temporarilyUnavailable: (503, .unavailable),
    ]

    @Test(arguments: AuthorityError.Code.allCases)
    func everyErrorCodeHasAnHTTPAndWireStatus(code: AuthorityError.Code) throws {
        let row = try #require(Self.expected[code], "no expected statuses for \(code.rawValue)")
        #expect(code.httpStatus.code == row.http, "\(code.rawValue)")
        #expect(code.wireStatus == row.wire, "\(code.rawValue)")
    }

    /// Structured extras reach both doors.
    @Test func retryAfterIsSpelledByEachDoor() {
        let error = AuthorityError(.temporarilyUnavailable, "busy", retryAfter: 7)
        #expect(WireService.status(error).retryAfter == 7)
        let reply = HTTPShim.reply(for: error)
        #expect(reply.headerFields[.retryAfter] == "7")
        #expect(reply.headerLines.contains("Retry-After: 7\r\n"))
    }
}
