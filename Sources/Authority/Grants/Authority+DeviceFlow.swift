import Foundation
import Store

/// A device authorization response (RFC 8628 §3.2).
public struct DeviceAuthorization: Sendable {
    public let deviceCode: String
    /// `XXXX-XXXX`, from letters that cannot be mistaken for one another.
    public let userCode: String
    public let verificationURI: String
    public let verificationURIComplete: String
    public let expiresIn: Int64
    public let interval: Int64
}

/// What the `/device` page shows about a pending device authorization.
public struct DeviceRequest: Sendable {
    public let userCode: String
    public let client: Client
    public let scopes: [String]
}

extension Authority {
    /// How long a device code lives: 10 minutes.
    static let deviceCodeLifetime: Int64 = 600
    /// The polling interval a device starts with (RFC 8628 §3.2 default).
    static let devicePollInterval: Int64 = 5
    /// RFC 8628 §6.1: consonants only (no vowels, so no words; no 0/O, 1/I/L confusion).
    static let userCodeAlphabet = Array("BCDFGHJKMNPQRSTVWXZ")

    public var deviceVerificationURI: String { issuer + "/device" }

    /// RFC 8628 §3.1–3.2: a device asks for authorization; the person approves it on `/device`.
    public func authorizeDevice(
        scope: String?, resources: [String], credentials: ClientCredentials, context: CallContext = .inProcess
    ) -> Answer<DeviceAuthorization> {
        authenticate(credentials, context: context).then { client in
            guard client.grantTypes.contains(.deviceCode) else {
                throw AuthorityError(.unauthorizedClient, "client is not allowed the device_code grant")
            }
            let scopes = try self.checkedUserScopes(scope, client: client)
            let audiences = try self.checkedResources(resources, client: client)
            let deviceCode = Secrets.opaqueToken()
            let now = self.clock.now()
            var record = Authsec_Store_V1_DeviceCodeRecord()
            record.clientID = client.clientID
            record.scope = scopes.joined(separator: " ")
            record.audience = audiences
            record.expiresAt = now + Self.deviceCodeLifetime
            record.interval = Self.devicePollInterval
            record.status = "pending"
            record.grantID = Secrets.grantID()
            // A few candidates, so that a taken code (one in 17 billion per live code) needs no retry.
            let candidates = (0..<4).map { _ in Self.newUserCode() }
            let stored = record
            return .pending {
                let userCode = try await self.write { txn -> String in
                    guard let free = try candidates.first(where: { try !txn.contains(Keyspace.userCodes, $0) }) else {
                        throw AuthorityError(.temporarilyUnavailable, "no free user code; try again")
                    }
                    var record = stored
                    record.userCode = free
                    let key = Secrets.storageKey(deviceCode)
                    try txn.put(Keyspace.deviceCodes, key, record)
                    var index = Authsec_Store_V1_UserCodeRecord()
                    index.deviceCode = key
                    index.expiresAt = record.expiresAt
                    try txn.put(Keyspace.userCodes, free, index)
                    return free
                }
                let shown = Self.displayed(userCode)
                return DeviceAuthorization(
                    deviceCode: deviceCode, userCode: shown, verificationURI: self.deviceVerificationURI,
                    verificationURIComplete: self.deviceVerificationURI + "?user_code=" + shown,
                    expiresIn: Self.deviceCodeLifetime, interval: Self.devicePollInterval)
            }
        }
    }

    static func newUserCode() -> String {
        String((0..<8).map { _ in userCodeAlphabet.randomElement()! })
    }

    static func displayed(_ code: String) -> String { String(code.prefix(4)) + "-" + String(code.dropFirst(4)) }

    /// A user code as typed: case, spaces and dashes do not matter (RFC 8628 §6.1).
    static func normalizedUserCode(_ text: String) -> String? {
        let code = String(text.uppercased().filter { $0 != "-" && $0 != " " })
        guard code.count == 8, code.allSatisfy(userCodeAlphabet.contains) else { return nil }
        return code
    }

    /// The pending device authorization of a user code, for the `/device` page.
    /// - Throws: `invalid_grant` for a code that is wrong, expired or already answered.
    public func deviceRequest(userCode: String) throws -> DeviceRequest {
        let refused = AuthorityError(.invalidGrant, "That code is wrong, has expired or was already used.")
        guard let code = Self.normalizedUserCode(userCode) else { throw refused }
        let now = clock.now()
        let record = try read { txn -> Authsec_Store_V1_DeviceCodeRecord? in
            guard let index = try txn.get(Keyspace.userCodes, code), now < index.expiresAt else { return nil }
            return try txn.get(Keyspace.deviceCodes, index.deviceCode)
        }
        guard let record, record.status == "pending", now < record.expiresAt,
            let client = try registeredClient(record.clientID), !client.isDisabled
        else { throw refused }
        return DeviceRequest(userCode: Self.displayed(code), client: client, scopes: Scopes.parse(record.scope) ?? [])
    }

    /// The signed-in person's answer to a device's request; the user code is used up either way.
    public func answerDevice(userCode: String, session: BrowserSession, approve: Bool, context: CallContext)
        async throws
    {
        let refused = AuthorityError(.invalidGrant, "That code is wrong, has expired or was already used.")
        guard let code = Self.normalizedUserCode(userCode) else { throw refused }
        let now = clock.now()
        let clientID = try await write { txn -> String in
            guard let index = try txn.get(Keyspace.userCodes, code), now < index.expiresAt,
                var record = try txn.get(Keyspace.deviceCodes, index.deviceCode), record.status == "pending",
                now < record.expiresAt
            else { throw refused }
            record.status = approve ? "approved" : "denied"
            record.sub = session.sub
            record.authTime = session.authTime
            record.sessionID = session.sessionID
            try txn.put(Keyspace.deviceCodes, index.deviceCode, record)
            _ = try txn.delete(Keyspace.userCodes, code)
            return record.clientID
        }
        auditCount(
            .userConsent, outcome: approve ? "ok" : AuthorityError.Code.accessDenied.rawValue, actor: session.sub,
            clientID: clientID, context: context)
    }

    /// RFC 8628 §3.4–3.5: the device polls. Pending answers `authorization_pending`, or
    /// `slow_down` (and a longer interval) when it polls faster than its interval; an approved
    /// code issues tokens once.
    func redeemDeviceCode(_ request: TokenRequest, client: Client, context: CallContext) async throws -> TokenGrant {
        guard let deviceCode = request.deviceCode, !deviceCode.isEmpty else {
            throw AuthorityError(.invalidRequest, "device_code is required")
        }
        let key = Secrets.storageKey(deviceCode)
        let now = clock.now()
        let refreshToken = client.grantTypes.contains(.refreshToken) ? Secrets.opaqueToken() : nil
        let grant = try await commitThenAnswer { txn -> Result<UserGrant, AuthorityError> in
            guard var record = try txn.get(Keyspace.deviceCodes, key), record.clientID == client.clientID else {
                return .failure(AuthorityError(.invalidGrant, "the device code is invalid"))
            }
            guard now < record.expiresAt else {
                _ = try txn.delete(Keyspace.deviceCodes, key)
                return .failure(AuthorityError(.expiredToken, "the device code has expired; start again"))
            }
            switch record.status {
            case "pending":
                let tooSoon = record.lastPoll > 0 && now - record.lastPoll < record.interval
                if tooSoon { record.interval += 5 }
                record.lastPoll = now
                try txn.put(Keyspace.deviceCodes, key, record)
                return .failure(
                    tooSoon
                        ? AuthorityError(.slowDown, "polling too fast", pollInterval: record.interval)
                        : AuthorityError(
                            .authorizationPending, "the user has not answered yet", pollInterval: record.interval))
            case "approved":
                _ = try txn.delete(Keyspace.deviceCodes, key)
                guard let user = try txn.get(Keyspace.users, record.sub), !user.disabled else {
                    return .failure(AuthorityError(.invalidGrant, "the user who approved can no longer sign in"))
                }
                return .success(
                    try self.startGrant(
                        txn,
                        UserGrant(
                            grantID: record.grantID, user: user, scopes: Scopes.parse(record.scope) ?? [],
                            audiences: record.audience, authTime: record.authTime, sessionID: record.sessionID,
                            nonce: nil, refreshToken: refreshToken),
                        client: client, now: now))
            default:
                _ = try txn.delete(Keyspace.deviceCodes, key)
                return .failure(AuthorityError(.accessDenied, "the user denied the request"))
            }
        }
        return try issueUserTokens(grant, client: client, now: now, rsaKey: try await idTokenRSAKey(for: client))
    }
}
