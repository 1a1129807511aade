import Crypto
import Foundation

/// The claims of an Authsec access token (RFC 9068 §2.2).
public struct AccessTokenClaims: Sendable, Equatable, Decodable {
    public var iss: String
    public var sub: String
    public var aud: [String]
    public var exp: Int64
    public var iat: Int64
    public var jti: String
    public var clientID: String
    public var scope: String
    /// The issuing agent's settings, for clients that set `agent_config.claims_in_token`.
    public var agent: AgentClaims?
    /// RFC 8693 §4.1 `act`, flattened: the actors' `sub`s, the current actor first and each
    /// earlier one after it (`{"sub": actors[0], "act": {"sub": actors[1]}}`). Empty when the
    /// token acts for no one.
    public var actors: [String] = []
    /// RFC 8693 §4.4 `may_act.sub`: the only party that may exchange this token, when set.
    public var mayAct: String?

    public var scopes: [String] { scope.split(separator: " ").map(String.init) }

    /// Whether `scope` is one of the token's scopes; no allocation (management calls ask per call).
    func grants(_ scope: String) -> Bool {
        var granted = self.scope
        var wanted = scope
        return granted.withUTF8 { granted in
            wanted.withUTF8 { wanted in
                var start = 0
                while start < granted.count {
                    var end = start
                    while end < granted.count, granted[end] != UInt8(ascii: " ") { end += 1 }
                    if end - start == wanted.count, wanted.count > 0,
                        memcmp(granted.baseAddress! + start, wanted.baseAddress!, wanted.count) == 0
                    {
                        return true
                    }
                    start = end + 1
                }
                return false
            }
        }
    }

    /// These claims with strings and arrays of their own. A copy of a struct shares its fields'
    /// buffers, so every holder retains the same reference counts; a cache's per-thread copy must not.
    var ownedCopy: AccessTokenClaims {
        var copy = self
        copy.iss = iss.ownedCopy
        copy.sub = sub.ownedCopy
        copy.aud = aud.map(\.ownedCopy)
        copy.jti = jti.ownedCopy
        copy.clientID = clientID.ownedCopy
        copy.scope = scope.ownedCopy
        copy.agent = agent?.ownedCopy
        copy.actors = actors.map(\.ownedCopy)
        copy.mayAct = mayAct?.ownedCopy
        return copy
    }

    /// Roughly the heap bytes these claims hold, for caches bounded in bytes.
    var approximateByteCount: Int {
        128 + [iss, sub, jti, clientID, scope].reduce(0) { $0 + 32 + $1.utf8.count }
            + actors.reduce(0) { $0 + 48 + $1.utf8.count }
            + aud.reduce(32) { $0 + 48 + $1.utf8.count } + (agent?.approximateByteCount ?? 0)
    }

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, iat, jti, scope, agent, act
        case clientID = "client_id"
        case mayAct = "may_act"
    }

    /// An `act` or `may_act` object: its `sub` and the actor before it.
    private struct Actor: Decodable {
        let sub: String
        let act: Box?

        /// An `act` nested in an `act`; a class so that the type can hold itself.
        final class Box: Decodable {
            let actor: Actor
            init(from decoder: Decoder) throws { actor = try Actor(from: decoder) }
        }
    }

    /// The most actors a token may name; a longer chain is refused as malformed.
    public static let maxActors = 8

    public init(
        iss: String, sub: String, aud: [String], exp: Int64, iat: Int64, jti: String, clientID: String, scope: String,
        agent: AgentClaims? = nil, actors: [String] = []
    ) {
        self.actors = actors
        self.iss = iss
        self.sub = sub
        self.aud = aud
        self.exp = exp
        self.iat = iat
        self.jti = jti
        self.clientID = clientID
        self.scope = scope
        self.agent = agent
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        iss = try container.decode(String.self, forKey: .iss)
        sub = try container.decode(String.self, forKey: .sub)
        if let single = try? container.decode(String.self, forKey: .aud) {
            aud = [single]
        } else {
            aud = try container.decode([String].self, forKey: .aud)
        }
        exp = try container.decode(Int64.self, forKey: .exp)
        iat = try container.decode(Int64.self, forKey: .iat)
        jti = try container.decode(String.self, forKey: .jti)
        clientID = try container.decode(String.self, forKey: .clientID)
        scope = try container.decodeIfPresent(String.self, forKey: .scope) ?? ""
        agent = try container.decodeIfPresent(AgentClaims.self, forKey: .agent)
        var actor = try container.decodeIfPresent(Actor.self, forKey: .act)
        while let current = actor {
            actors.append(current.sub)
            guard actors.count <= Self.maxActors else {
                throw DecodingError.dataCorruptedError(forKey: .act, in: container, debugDescription: "too deep")
            }
            actor = current.act?.actor
        }
        mayAct = try container.decodeIfPresent(Actor.self, forKey: .mayAct)?.sub
    }

    /// RFC 8693 §4.1's nested `act` object for `actors`, or nil when there are none.
    public var actJSON: String? {
        guard !actors.isEmpty else { return nil }
        var json: [UInt8] = []
        Self.appendActors(actors, to: &json)
        return String(decoding: json.dropFirst(#","act":"#.utf8.count), as: UTF8.self)
    }

    /// Appends `,"act":{…}` for `actors`, nested as RFC 8693 §4.1 writes it.
    static func appendActors(_ actors: [String], to json: inout [UInt8]) {
        guard !actors.isEmpty else { return }
        json.append(contentsOf: #","act":"#.utf8)
        for (index, actor) in actors.enumerated() {
            json.append(contentsOf: (index == 0 ? #"{"sub":"# : #","act":{"sub":"#).utf8)
            JSONText.appendString(actor, to: &json)
        }
        json.append(contentsOf: Array(repeating: UInt8(ascii: "}"), count: actors.count))
    }
}

/// Composes and checks Authsec's own ES256 access tokens without a general JOSE library.
///
/// DESIGN.md allows this one measured exception on the hot path: the header is precomputed per key
/// and the signature is swift-crypto's P-256. Verification is strict: exactly three parts, the
/// header must name ES256, `at+jwt` and a `kid` we published; anything else is refused, never
/// negotiated (RFC 8725 §3.1). Tests check that jwt-kit and PyJWT accept every token made here.
enum AccessTokenCodec {
    static func sign(_ claims: AccessTokenClaims, with key: KeyRing.Entry) throws -> String {
        var json = [UInt8]()
        json.reserveCapacity(384)
        func field(_ name: StaticString, _ value: String) {
            json.append(contentsOf: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            JSONText.appendString(value, to: &json)
        }
        field(#"{"iss":"#, claims.iss)
        field(#","sub":"#, claims.sub)
        json.append(contentsOf: #","aud":"#.utf8)
        JSONText.appendAudience(claims.aud, to: &json)
        json.append(contentsOf: #","exp":\#(claims.exp),"iat":\#(claims.iat)"#.utf8)
        field(#","jti":"#, claims.jti)
        field(#","client_id":"#, claims.clientID)
        field(#","scope":"#, claims.scope)
        if let agent = claims.agent {
            json.append(contentsOf: #","agent":"#.utf8)
            agent.append(to: &json)
        }
        AccessTokenClaims.appendActors(claims.actors, to: &json)
        json.append(UInt8(ascii: "}"))
        // The token is built as bytes in one buffer and becomes a String once.
        var token = [UInt8]()
        token.reserveCapacity(key.encodedHeader.utf8.count + json.count * 4 / 3 + 92)
        token.append(contentsOf: key.encodedHeader.utf8)
        token.append(UInt8(ascii: "."))
        Base64URL.append(json, to: &token)
        let signature = try key.privateKey.signature(for: token)
        token.append(UInt8(ascii: "."))
        Base64URL.append(signature.rawRepresentation, to: &token)
        return String(decoding: token, as: UTF8.self)
    }

    /// Why a token was refused; never shown to callers (an inactive token is just inactive).
    enum Rejection: Error, Equatable {
        case malformed, unsupportedHeader, unknownKey, badSignature, wrongIssuer, expired
    }

    struct Header: Decodable {
        let alg: String
        let typ: String?
        let kid: String?
    }

    static func verify(_ token: String, keys: KeyRing, issuer: String, now: Int64) throws(Rejection)
        -> AccessTokenClaims
    {
        guard token.utf8.count <= 8192 else { throw .malformed }
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).map(Substring.init)
        guard parts.count == 3 else { throw .malformed }
        // Our tokens carry exactly the header we precomputed for the key, byte for byte; any other
        // header (another alg, typ or kid, or the same fields re-serialized) is refused.
        guard let key = keys.verifier(encodedHeader: parts[0], at: now) else {
            guard let headerBytes = Base64URL.decode(parts[0]),
                let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes))
            else { throw .malformed }
            guard header.alg == "ES256", header.typ == "at+jwt", header.kid != nil else { throw .unsupportedHeader }
            throw .unknownKey
        }
        guard let payloadBytes = Base64URL.decode(parts[1]), let signatureBytes = Base64URL.decode(parts[2]) else {
            throw .malformed
        }
        guard signatureBytes.count == 64,
            let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signatureBytes),
            key.publicKey.isValidSignature(
                signature, for: Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count)))
        else { throw .badSignature }
        guard let claims = try? JSONDecoder().decode(AccessTokenClaims.self, from: Data(payloadBytes)) else {
            throw .malformed
        }
        guard claims.iss == issuer else { throw .wrongIssuer }
        guard now < claims.exp else { throw .expired }
        return claims
    }
}

/// JSON text helpers shared by the doors.
public enum JSONText {
    /// Appends `text` as a JSON string literal (RFC 8259 §7).
    public static func appendString(_ text: String, to json: inout String) {
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) {
            json.append("\"")
            json.append(text)
            json.append("\"")
            return
        }
        var bytes = [UInt8]()
        appendString(text, to: &bytes)
        json += String(decoding: bytes, as: UTF8.self)
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// Appends `text` as a JSON string literal (RFC 8259 §7) in UTF-8 bytes.
    public static func appendString(_ text: String, to json: inout [UInt8]) {
        json.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): json.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): json.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0..<0x20:
                json.append(contentsOf: [
                    UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)],
                    hex[Int(byte & 0xF)],
                ])
            default: json.append(byte)
            }
        }
        json.append(UInt8(ascii: "\""))
    }

    /// Appends an `aud` value: a string for one audience, an array for several (RFC 7519 §4.1.3).
    public static func appendAudience(_ audiences: [String], to json: inout [UInt8]) {
        if audiences.count == 1 {
            appendString(audiences[0], to: &json)
            return
        }
        json.append(UInt8(ascii: "["))
        for (index, audience) in audiences.enumerated() {
            if index > 0 { json.append(UInt8(ascii: ",")) }
            appendString(audience, to: &json)
        }
        json.append(UInt8(ascii: "]"))
    }

    public static func appendAudience(_ audiences: [String], to json: inout String) {
        if audiences.count == 1 { return appendString(audiences[0], to: &json) }
        var bytes = [UInt8]()
        appendAudience(audiences, to: &bytes)
        json += String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    /// The same text in a buffer of its own (a copy of a `String` shares its buffer).
    var ownedCopy: String {
        var source = self
        return source.withUTF8 { bytes in
            String(unsafeUninitializedCapacity: bytes.count) { buffer in
                _ = buffer.initialize(fromContentsOf: bytes)
                return bytes.count
            }
        }
    }
}
