/// Every error Authority reports to a caller, whichever door it came through. It says what went
/// wrong; each door says how that is spelled (`Server/ErrorStatus.swift` holds both tables).
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
        /// RFC 6749 §4.1.2.1: a `response_type` other than `code`.
        case unsupportedResponseType = "unsupported_response_type"
        /// OpenID Connect Core §3.1.2.6: `prompt=none`, and nobody is signed in.
        case loginRequired = "login_required"
        /// OpenID Connect Core §3.1.2.6: `prompt=none`, and the user has not consented yet.
        case consentRequired = "consent_required"
        /// OpenID Connect Core §3.1.2.6, RFC 9126 §4: a `request_uri` unknown, expired or used.
        case invalidRequestURI = "invalid_request_uri"
        /// RFC 8628 §3.5: the user has not answered yet; poll again after the interval.
        case authorizationPending = "authorization_pending"
        /// RFC 8628 §3.5: polling too fast; the interval grows by 5 seconds.
        case slowDown = "slow_down"
        /// RFC 8628 §3.5: the device code expired; start again.
        case expiredToken = "expired_token"
        case invalidClientMetadata = "invalid_client_metadata"
        case invalidRedirectURI = "invalid_redirect_uri"
        case notFound = "not_found"
        case alreadyExists = "already_exists"
        case failedPrecondition = "failed_precondition"
        case storageFull = "storage_full"
        /// Over the client's `rate_limits.requests_per_minute`; `retryAfter` says when to try again.
        case rateLimited = "rate_limited"
        /// A charge past an agent's daily budget of model tokens, when the caller asked for an error.
        case quotaExhausted = "quota_exhausted"
        case serverError = "server_error"
        case temporarilyUnavailable = "temporarily_unavailable"
    }

    public let code: Code
    public let description: String
    /// Log-only context; never sent to the caller.
    public let detail: String?
    /// Seconds after which the caller may try again (a rate limit, an overloaded server); each
    /// door spells it its own way (HTTP `Retry-After`, the wire status's `retry_after`).
    public var retryAfter: Int64?
    /// Seconds a polling client must wait between polls (RFC 8628 §3.5 `interval`).
    public var pollInterval: Int64?

    public init(
        _ code: Code, _ description: String, detail: String? = nil, retryAfter: Int64? = nil,
        pollInterval: Int64? = nil
    ) {
        self.code = code
        self.description = description
        self.detail = detail
        self.retryAfter = retryAfter
        self.pollInterval = pollInterval
    }
}
