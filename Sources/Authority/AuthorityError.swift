/// Every error Authority reports to a caller, whichever door it came through.
///
/// `code.rawValue` is the exact OAuth spelling (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7591 §3.2.2,
/// RFC 8707 §2) where one exists. `description` is safe to show the caller; `detail` is for the log only.
public struct AuthorityError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, CaseIterable, Sendable {
        case invalidRequest = "invalid_request"
        case invalidClient = "invalid_client"
        case invalidGrant = "invalid_grant"
        case unauthorizedClient = "unauthorized_client"
        case unsupportedGrantType = "unsupported_grant_type"
        case invalidScope = "invalid_scope"
        case invalidTarget = "invalid_target"
        case unsupportedTokenType = "unsupported_token_type"
        case invalidToken = "invalid_token"
        case insufficientScope = "insufficient_scope"
        case accessDenied = "access_denied"
        case invalidClientMetadata = "invalid_client_metadata"
        case invalidRedirectURI = "invalid_redirect_uri"
        case notFound = "not_found"
        case alreadyExists = "already_exists"
        case failedPrecondition = "failed_precondition"
        case storageFull = "storage_full"
        case serverError = "server_error"
        case temporarilyUnavailable = "temporarily_unavailable"
    }

    public let code: Code
    public let description: String
    /// Log-only context; never sent to the caller.
    public let detail: String?

    public init(_ code: Code, _ description: String, detail: String? = nil) {
        self.code = code
        self.description = description
        self.detail = detail
    }
}

extension AuthorityError.Code {
    /// The HTTP status for this error (RFC 6749 §5.2: `invalid_client` is 401, the rest 400).
    public var httpStatus: Int {
        switch self {
        case .invalidClient, .invalidToken: 401
        case .insufficientScope, .accessDenied: 403
        case .notFound: 404
        case .alreadyExists: 409
        case .failedPrecondition: 409
        case .storageFull: 507
        case .serverError: 500
        case .temporarilyUnavailable: 503
        case .invalidRequest, .invalidGrant, .unauthorizedClient, .unsupportedGrantType, .invalidScope,
            .invalidTarget, .unsupportedTokenType, .invalidClientMetadata, .invalidRedirectURI:
            400
        }
    }

    /// The gRPC-style status name used on the wire (mapped to numbers by the wire adapter).
    public var wireStatus: WireStatus {
        switch self {
        case .invalidClient, .invalidToken: .unauthenticated
        case .insufficientScope, .accessDenied, .unauthorizedClient: .permissionDenied
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .failedPrecondition: .failedPrecondition
        case .storageFull: .resourceExhausted
        case .serverError: .internal
        case .temporarilyUnavailable: .unavailable
        case .invalidRequest, .invalidGrant, .unsupportedGrantType, .invalidScope, .invalidTarget,
            .unsupportedTokenType, .invalidClientMetadata, .invalidRedirectURI:
            .invalidArgument
        }
    }
}

/// gRPC status codes with their numbers, so the domain can choose a wire status without protobuf types.
public enum WireStatus: Int, Sendable {
    case ok = 0
    case invalidArgument = 3
    case notFound = 5
    case alreadyExists = 6
    case permissionDenied = 7
    case resourceExhausted = 8
    case failedPrecondition = 9
    case `internal` = 13
    case unavailable = 14
    case unauthenticated = 16
}
