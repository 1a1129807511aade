import ClientModel
import Foundation
import JWTKit
import Testing

@testable import Authority

/// A client whose keys live at a `jwks_uri`: a fetch that fails and an assertion that is bad
/// must look the same to the client (RFC 6749 §5.2 `invalid_client`, one description), so its
/// `jwks_uri` tells it nothing about what the server can reach; only `detail` (log-only) differs.
@Suite struct JWKSURIAssertionTests {
    struct Resolver: ClientKeyResolver {
        struct Unreachable: Error, CustomStringConvertible {
            var description: String { "refused address: 10.0.0.1, which is private (10.0.0.0/8)" }
        }
        let jwks: String?
        func jwks(at uri: String, refresh: Bool) async throws -> String {
            guard let jwks else { throw Unreachable() }
            return jwks
        }
    }

    struct Assertion: JWTPayload {
        let iss: IssuerClaim, sub: SubjectClaim, aud: AudienceClaim, exp: ExpirationClaim, jti: IDClaim
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    func rejection(resolver: Resolver, fixture: Fixture, signWith key: ES256PrivateKey) async throws -> AuthorityError {
        let authority = try Authority(
            store: fixture.store, issuer: Fixture.issuer, sealingKey: fixture.sealingKey, clock: fixture.clock,
            keyResolver: resolver)
        var settings = Authsec_V1_Client()
        settings.name = "Agent with a jwks_uri"
        settings.tokenEndpointAuthMethod = "private_key_jwt"
        settings.jwksUri = "https://keys.example.com/jwks.json"
        let id = try await authority.createClient(settings, by: fixture.root).client.clientID
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: key, kid: "k1")
        let jwt = try await signer.sign(
            Assertion(
                iss: .init(value: id), sub: .init(value: id), aud: .init(value: [Fixture.issuer + "/oauth/token"]),
                exp: .init(value: Date(timeIntervalSince1970: TimeInterval(fixture.clock.now() + 60))),
                jti: .init(value: UUID().uuidString)),
            kid: "k1")
        do {
            _ = try await authority.token(
                TokenRequest(
                    grantType: "client_credentials", scope: nil, audiences: [],
                    credentials: .assertion(jwt: jwt, clientID: id))
            ).value()
        } catch let error as AuthorityError {
            return error
        }
        throw AuthorityError(.serverError, "the assertion was accepted")
    }

    static func jwks(_ key: ES256PrivateKey) throws -> String {
        let parameters = try #require(key.parameters)
        return
            #"{"keys":[{"kty":"EC","crv":"P-256","x":"\#(parameters.x)","y":"\#(parameters.y)","kid":"k1","alg":"ES256","use":"sig"}]}"#
    }

    @Test func aFailedFetchAndABadAssertionGetTheSameAnswer() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let published = ES256PrivateKey()
        let unreachable = try await rejection(resolver: Resolver(jwks: nil), fixture: fixture, signWith: published)
        let forged = try await rejection(
            resolver: Resolver(jwks: try Self.jwks(published)), fixture: fixture, signWith: ES256PrivateKey())
        #expect(unreachable.code == .invalidClient && forged.code == .invalidClient)
        #expect(unreachable.description == "client assertion rejected")
        #expect(unreachable.description == forged.description)
        // The log still tells them apart.
        #expect(unreachable.detail?.contains("jwks_uri could not be read") == true)
        #expect(unreachable.detail?.contains("10.0.0.1") == true)
        #expect(forged.detail?.contains("jwks_uri") == false)
    }
}
