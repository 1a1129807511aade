import Authority
import Hummingbird
import Wire

/// How each door spells an `AuthorityError.Code`: the one table per door.
extension AuthorityError.Code {
    /// RFC 6749 §5.2 (`invalid_client` is 401, the other token-endpoint errors 400), RFC 6750 §3.1
    /// (`invalid_token` 401, `insufficient_scope` 403), and plain HTTP for the management errors.
    var httpStatus: HTTPResponse.Status {
        switch self {
        case .invalidClient, .invalidToken: .unauthorized
        case .insufficientScope, .accessDenied: .forbidden
        case .notFound: .notFound
        case .alreadyExists, .failedPrecondition: .conflict
        case .storageFull: HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
        case .rateLimited, .quotaExhausted: .tooManyRequests
        case .serverError: .internalServerError
        case .temporarilyUnavailable: .serviceUnavailable
        case .invalidRequest, .invalidGrant, .unauthorizedClient, .unsupportedGrantType, .invalidScope,
            .invalidTarget, .unsupportedTokenType, .invalidClientMetadata, .invalidRedirectURI,
            .unsupportedResponseType, .loginRequired, .consentRequired, .invalidRequestURI, .authorizationPending,
            .slowDown, .expiredToken:
            .badRequest
        }
    }

    /// gRPC's status codes, by what each means to a caller.
    var wireStatus: Authsec_V1_Status.Code {
        switch self {
        case .invalidClient, .invalidToken: .unauthenticated
        case .insufficientScope, .accessDenied, .unauthorizedClient: .permissionDenied
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .failedPrecondition: .failedPrecondition
        case .storageFull, .rateLimited, .quotaExhausted: .resourceExhausted
        case .serverError: .internal
        case .temporarilyUnavailable: .unavailable
        case .invalidRequest, .invalidGrant, .unsupportedGrantType, .invalidScope, .invalidTarget,
            .unsupportedTokenType, .invalidClientMetadata, .invalidRedirectURI, .unsupportedResponseType,
            .invalidRequestURI, .expiredToken:
            .invalidArgument
        case .loginRequired, .consentRequired, .authorizationPending: .failedPrecondition
        case .slowDown: .resourceExhausted
        }
    }
}
