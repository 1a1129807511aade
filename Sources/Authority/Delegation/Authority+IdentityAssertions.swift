import Foundation
import JWTKit

extension Authority {
    /// The ID-JAG profile's `typ` (draft-ietf-oauth-identity-assertion-authz-grant).
    static let identityAssertionType = "oauth-id-jag+jwt"
    /// The longest an ID-JAG may be valid ahead of now.
    static let maxIdentityAssertionLifetime: Int64 = 600

    /// RFC 7523 §2.1 with an Identity Assertion JWT Authorization Grant: a trusted identity
    /// provider vouches that one of its people may use `client` at `resource`.
    ///
    /// The assertion must be typed `oauth-id-jag+jwt`, signed by a trusted issuer's key, have
    /// exactly one `aud` (this issuer), a `client_id` equal to the authenticated client, and a
    /// fresh `exp` (at most 10 minutes ahead); its `jti` is used once. Its person is the user whose
    /// username equals its `email` claim, or else its `sub`. Scopes and `resource` follow the
    /// rules of a person's grant. The access token comes without a refresh token.
    func redeemIdentityAssertion(_ request: TokenRequest, client: Client) async throws -> TokenGrant {
        guard client.isConfidential else {
            throw AuthorityError(.unauthorizedClient, "the jwt-bearer grant needs a confidential client")
        }
        guard let jwt = request.assertion, !jwt.isEmpty else {
            throw AuthorityError(.invalidRequest, "assertion is required")
        }
        func refused(_ reason: String, detail: String? = nil) -> AuthorityError {
            AuthorityError(.invalidGrant, "the assertion was refused: \(reason)", detail: detail)
        }
        struct Header: Decodable {
            let typ: String?
        }
        struct Unverified: Decodable {
            let iss: String
        }
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        guard jwt.utf8.count <= 16 * 1024, parts.count == 3, let headerBytes = Base64URL.decode(parts[0]),
            let payloadBytes = Base64URL.decode(parts[1]),
            let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)),
            let unverified = try? JSONDecoder().decode(Unverified.self, from: Data(payloadBytes))
        else { throw refused("it is not a JWT") }
        guard header.typ?.lowercased() == Self.identityAssertionType else {
            throw refused("its typ must be \(Self.identityAssertionType)")
        }
        guard unverified.iss.utf8.count <= 255,
            let trusted = try read({ try $0.get(Keyspace.trustedIssuers, unverified.iss) })
        else { throw refused("its issuer is not trusted") }
        let claims = try await verifiedIdentityAssertion(jwt, keysAt: trusted.jwksUri, refused: refused)
        let now = clock.now()
        guard claims.aud.count == 1, claims.aud[0] == issuer else {
            throw refused("its aud must be this issuer alone")
        }
        guard claims.clientID == client.clientID else { throw refused("it was issued for another client") }
        guard claims.exp > now else { throw refused("it has expired") }
        guard claims.exp <= now + Self.maxIdentityAssertionLifetime else {
            throw refused("its exp may be at most \(Self.maxIdentityAssertionLifetime) seconds ahead")
        }
        guard (1...Self.maxAssertionIDLength).contains(claims.jti.utf8.count) else {
            throw refused("its jti must be 1 to \(Self.maxAssertionIDLength) bytes")
        }
        let user = try read { txn -> Authsec_Store_V1_UserRecord? in
            for name in [claims.email, claims.sub].compactMap({ $0 })
            where (1...UserRules.maxUsernameLength).contains(name.utf8.count) {
                if let index = try txn.get(Keyspace.usernames, UserRules.indexKey(name)) {
                    return try txn.get(Keyspace.users, index.sub)
                }
            }
            return nil
        }
        guard let user, !user.disabled else { throw refused("it names no user of this server who can sign in") }
        if let asked = request.scope, !asked.isEmpty,
            let extra = (Scopes.parse(asked) ?? [asked]).first(where: {
                !(Scopes.parse(claims.scope ?? "") ?? []).contains($0)
            })
        {
            throw AuthorityError(.invalidScope, "scope '\(extra)' is not in the assertion")
        }
        let scopes = try checkedUserScopes(claims.scope ?? "", client: client)
        let audiences = try checkedResources(
            request.audiences.isEmpty ? claims.resources : request.audiences, client: client)
        if !request.audiences.isEmpty, !claims.resources.isEmpty,
            let extra = request.audiences.first(where: { !claims.resources.contains($0) })
        {
            throw AuthorityError(.invalidTarget, "resource '\(extra.prefix(200))' is not in the assertion")
        }
        let key = "idjag " + trusted.issuer + " " + claims.jti
        try await write { txn in
            if let used = try txn.get(Keyspace.usedAssertions, key), used.expiresAt > now {
                throw AuthorityError(.invalidGrant, "the assertion was refused: it was already used")
            }
            var record = Authsec_Store_V1_AssertionRecord()
            record.expiresAt = claims.exp
            try txn.put(Keyspace.usedAssertions, key, record)
        }
        let tokenClaims = AccessTokenClaims(
            iss: issuer, sub: user.sub, aud: audiences, exp: now + client.accessTokenLifetime, iat: now,
            jti: Secrets.tokenID(), clientID: client.clientID, scope: scopes.joined(separator: " "))
        return TokenGrant(
            accessToken: try signAccessToken(tokenClaims, now: now), expiresIn: client.accessTokenLifetime,
            scope: tokenClaims.scope, issuedTokenType: Self.accessTokenType)
    }

    /// The claims of an ID-JAG, verified against its issuer's keys (refetched once, in case the
    /// issuer rotated them).
    private func verifiedIdentityAssertion(
        _ jwt: String, keysAt jwksURI: String, refused: (String, String?) -> AuthorityError
    ) async throws -> IdentityAssertionClaims {
        guard let keyResolver else { throw refused("its issuer's keys cannot be fetched", nil) }
        func verified(refresh: Bool) async throws -> IdentityAssertionClaims {
            let text: String
            do {
                text = try await keyResolver.jwks(at: jwksURI, refresh: refresh)
            } catch {
                throw refused("its signature could not be checked", "the issuer's jwks_uri could not be read: \(error)")
            }
            let keys = JWTKeyCollection()
            do {
                try await keys.add(jwksJSON: text)
                return try await keys.verify(jwt, as: IdentityAssertionClaims.self)
            } catch {
                throw refused("its signature could not be checked", "\(error)")
            }
        }
        do {
            return try await verified(refresh: false)
        } catch {
            return try await verified(refresh: true)
        }
    }
}

/// The claims of an ID-JAG that Authsec reads. `aud` may be a string or an array (of one).
struct IdentityAssertionClaims: JWTPayload {
    let iss: String
    let sub: String
    let aud: [String]
    let exp: Int64
    let jti: String
    let clientID: String
    let scope: String?
    let email: String?
    let resources: [String]

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, jti, scope, email, resource
        case clientID = "client_id"
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        iss = try container.decode(String.self, forKey: .iss)
        sub = try container.decode(String.self, forKey: .sub)
        aud = try Self.strings(container, .aud)
        exp = try NumericDate.seconds(container.decode(Double.self, forKey: .exp)) ?? 0
        jti = try container.decode(String.self, forKey: .jti)
        clientID = try container.decode(String.self, forKey: .clientID)
        scope = try container.decodeIfPresent(String.self, forKey: .scope)
        email = try container.decodeIfPresent(String.self, forKey: .email)
        resources = container.contains(.resource) ? try Self.strings(container, .resource) : []
    }

    static func strings(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> [String] {
        if let single = try? container.decode(String.self, forKey: key) { return [single] }
        return try container.decode([String].self, forKey: key)
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(iss, forKey: .iss)
        try container.encode(sub, forKey: .sub)
        try container.encode(aud, forKey: .aud)
        try container.encode(exp, forKey: .exp)
        try container.encode(jti, forKey: .jti)
        try container.encode(clientID, forKey: .clientID)
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
