import Crypto
import Foundation
import _CryptoExtras

/// The key an ID token is signed with: ES256 by default, RS256 for a client that asks.
enum IDTokenSigner {
    case es256(KeyRing.Entry)
    case rs256(KeyRing.RSAEntry)

    var header: String {
        switch self {
        case .es256(let key): #"{"alg":"ES256","typ":"JWT","kid":"\#(key.kid)"}"#
        case .rs256(let key): #"{"alg":"RS256","typ":"JWT","kid":"\#(key.kid)"}"#
        }
    }

    func signature(for input: [UInt8]) throws -> Data {
        switch self {
        case .es256(let key): try key.privateKey.signature(for: input).rawRepresentation
        case .rs256(let key): try key.privateKey.signature(for: input, padding: .insecurePKCS1v1_5).rawRepresentation
        }
    }
}

/// The claims of an OpenID Connect ID token (Core §2), for one user and one client.
struct IDTokenClaims {
    let issuer: String
    let user: Authsec_Store_V1_UserRecord
    let clientID: String
    let issuedAt: Int64
    let expiresAt: Int64
    let authTime: Int64
    let nonce: String?
    /// The access token issued with it, for `at_hash` (Core §3.1.3.6).
    let accessToken: String
    let sessionID: String
    let scopes: [String]
}

/// Signs ID tokens (header `typ: JWT`) with the current ES256 or RS256 key. Like the access-token
/// codec, the JSON is composed directly; tests check PyJWT and jwt-kit accept what it makes.
enum IDTokenCodec {
    static func sign(_ claims: IDTokenClaims, with signer: IDTokenSigner) throws -> String {
        var json = [UInt8]()
        json.reserveCapacity(512)
        func field(_ name: String, _ value: String) {
            json.append(contentsOf: ",\"\(name)\":".utf8)
            JSONText.appendString(value, to: &json)
        }
        json.append(contentsOf: #"{"iss":"#.utf8)
        JSONText.appendString(claims.issuer, to: &json)
        field("sub", claims.user.sub)
        field("aud", claims.clientID)
        field("azp", claims.clientID)
        json.append(
            contentsOf: #","exp":\#(claims.expiresAt),"iat":\#(claims.issuedAt),"auth_time":\#(claims.authTime)"#.utf8)
        if let nonce = claims.nonce { field("nonce", nonce) }
        // Core §3.1.3.6: the left half of the SHA-256 of the access token (ES256 and RS256 alike).
        let digest = Array(SHA256.hash(data: Array(claims.accessToken.utf8)))
        field("at_hash", Base64URL.encode(digest.prefix(16)))
        if !claims.sessionID.isEmpty { field("sid", claims.sessionID) }
        if claims.scopes.contains("profile") {
            field("preferred_username", claims.user.username)
            if !claims.user.name.isEmpty { field("name", claims.user.name) }
            json.append(contentsOf: #","updated_at":\#(claims.user.updatedAt)"#.utf8)
        }
        if claims.scopes.contains("email"), !claims.user.email.isEmpty {
            field("email", claims.user.email)
            // Authsec does not verify addresses; an admin enters them.
            json.append(contentsOf: #","email_verified":false"#.utf8)
        }
        json.append(UInt8(ascii: "}"))
        var token = Array(Base64URL.encode(Array(signer.header.utf8)).utf8)
        token.append(UInt8(ascii: "."))
        Base64URL.append(json, to: &token)
        let signature = try signer.signature(for: token)
        token.append(UInt8(ascii: "."))
        Base64URL.append(signature, to: &token)
        return String(decoding: token, as: UTF8.self)
    }
}

extension IDTokenCodec {
    /// What an `id_token_hint` says (OpenID RP-Initiated Logout §2): the client it was issued to
    /// and the session, when one of our published keys signed it. Its expiry does not matter: a
    /// hint is often an expired token.
    static func hint(_ token: String, keys: KeyRing, now: Int64) -> (clientID: String, sessionID: String?)? {
        struct Header: Decodable {
            let alg: String
            let kid: String
        }
        struct Claims: Decodable {
            let aud: String
            let sid: String?
        }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 8192, parts.count == 3, let headerBytes = Base64URL.decode(parts[0]),
            let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)),
            let signatureBytes = Base64URL.decode(parts[2])
        else { return nil }
        let input = Array((parts[0] + "." + parts[1]).utf8)
        let isSigned: Bool
        switch header.alg {
        case "ES256":
            guard let key = keys.published(at: now).first(where: { $0.kid == header.kid }),
                let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signatureBytes)
            else { return nil }
            isSigned = key.publicKey.isValidSignature(signature, for: input)
        case "RS256":
            guard let key = keys.publishedRSA(at: now).first(where: { $0.kid == header.kid }) else { return nil }
            isSigned = key.publicKey.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signatureBytes), for: input, padding: .insecurePKCS1v1_5)
        default:
            return nil
        }
        guard isSigned, let payload = Base64URL.decode(parts[1]),
            let claims = try? JSONDecoder().decode(Claims.self, from: Data(payload))
        else { return nil }
        return (claims.aud, claims.sid)
    }
}
