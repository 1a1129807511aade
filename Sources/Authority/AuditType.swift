/// The kinds of audit event (`AuditEvent.type`). Hot-path kinds are aggregated per second.
public enum AuditType: String, CaseIterable, Sendable {
    case clientCreate = "client.create"
    case clientUpdate = "client.update"
    case clientDelete = "client.delete"
    case clientRotateSecret = "client.rotate_secret"
    /// A client registered itself at /register (RFC 7591); the detail is its address.
    case clientRegister = "client.register"
    case registrationTokenCreate = "registration_token.create"
    case registrationTokenRevoke = "registration_token.revoke"
    /// An identity provider was trusted for ID-JAGs, or no longer; the detail is its issuer.
    case trustAdd = "trust.add"
    case trustRemove = "trust.remove"
    case scopeCreate = "scope.create"
    case scopeDelete = "scope.delete"
    case keyRotate = "key.rotate"
    case userCreate = "user.create"
    case userUpdate = "user.update"
    case userSetPassword = "user.set_password"
    case userDisable = "user.disable"
    case userEnable = "user.enable"
    case userDelete = "user.delete"
    /// An admin revoked a user's consent to a client, and the grants made under it.
    case consentRevoke = "user.consent_revoke"
    /// A management call refused before it reached its operation (a bad, foreign or weak token).
    case adminAuthorize = "admin.authorize"
    case tokenIssue = "token.issue"
    case tokenRevoke = "token.revoke"
    /// A client that failed to authenticate (its claimed id), on any endpoint.
    case clientAuthenticate = "client.authenticate"
    case rateLimitHit = "rate_limit.hit"
    /// A sign-in through the pages: `ok`, `invalid_grant` (wrong credentials) or `throttled`.
    case userSignIn = "user.sign_in"
    /// A user granted a client scopes on the consent page, or refused it (`access_denied`).
    case userConsent = "user.consent"
    /// A rotated refresh token presented again: its grant was revoked.
    case refreshReuse = "token.refresh_reuse"
    /// An authorization code redeemed a second time: its grant was revoked.
    case codeReplay = "token.code_replay"
    case quotaExhausted = "quota.exhausted"
    /// Events the in-memory buffer could not hold between two flushes; its count says how many.
    case auditDropped = "audit.dropped"
}
