import Foundation

/// An identity provider whose ID-JAGs Authsec accepts (enterprise-managed authorization).
public struct TrustedIssuer: Sendable, Equatable {
    public let issuer: String
    public let jwksURI: String
    public let createdAt: Int64
    public let createdBy: String
}

extension Authority {
    /// Trusts `issuer`'s Identity Assertion JWT Authorization Grants, verified with the keys at
    /// `jwksURI`. Both are https URLs (http only on loopback); trusting again replaces the keys' URL.
    public func addTrustedIssuer(_ issuer: String, jwksURI: String, by caller: AdminCaller) async throws
        -> TrustedIssuer
    {
        guard ClientValidator.isWebURL(issuer, requireTLSUnlessLoopback: true), issuer.utf8.count <= 255,
            !issuer.contains("#"), !issuer.contains("?")
        else {
            throw AuthorityError(.invalidRequest, "issuer must be an https URL without query or fragment")
        }
        guard issuer != self.issuer else {
            throw AuthorityError(.invalidRequest, "issuer is this server itself")
        }
        guard ClientValidator.isWebURL(jwksURI, requireTLSUnlessLoopback: true), jwksURI.utf8.count <= 2048 else {
            throw AuthorityError(.invalidRequest, "jwks_uri must be an https URL (http only on loopback)")
        }
        var record = Authsec_Store_V1_TrustedIssuerRecord()
        record.issuer = issuer
        record.jwksUri = jwksURI
        record.createdAt = clock.now()
        record.createdBy = caller.clientID
        try await write { [record] txn in
            try txn.put(Keyspace.trustedIssuers, issuer, record)
            try self.putAudit(txn, .trustAdd, by: caller, detail: issuer)
        }
        return Self.trustedIssuer(record)
    }

    public func listTrustedIssuers() throws -> [TrustedIssuer] {
        try read { try $0.scan(Keyspace.trustedIssuers, limit: 10_000) }.map { Self.trustedIssuer($0.value) }
    }

    /// Stops trusting `issuer`; tokens already issued from its assertions live until they expire.
    public func removeTrustedIssuer(_ issuer: String, by caller: AdminCaller) async throws {
        guard (1...255).contains(issuer.utf8.count) else {
            throw AuthorityError(.notFound, "issuer \(issuer.prefix(255)) is not trusted")
        }
        try await write { txn in
            guard try txn.delete(Keyspace.trustedIssuers, issuer) else {
                throw AuthorityError(.notFound, "issuer \(issuer) is not trusted")
            }
            try self.putAudit(txn, .trustRemove, by: caller, detail: issuer)
        }
    }

    static func trustedIssuer(_ record: Authsec_Store_V1_TrustedIssuerRecord) -> TrustedIssuer {
        TrustedIssuer(
            issuer: record.issuer, jwksURI: record.jwksUri, createdAt: record.createdAt, createdBy: record.createdBy)
    }
}
