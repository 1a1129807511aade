import Foundation
import Store

/// A pushed authorization request's handle (RFC 9126 §2.2).
public struct PushedRequest: Sendable {
    public let requestURI: String
    public let expiresIn: Int64
}

extension Authority {
    /// How long a pushed request may wait for the browser: 60 seconds (RFC 9126 §2.2 suggests 5 to 600).
    static let pushedRequestLifetime: Int64 = 60
    /// The prefix of every `request_uri` (RFC 9126 §2.2).
    public static let requestURIPrefix = "urn:ietf:params:oauth:request_uri:"

    /// RFC 9126: the client authenticates and pushes its authorization parameters, which are
    /// checked now, as at `/authorize`, and kept for one use within a minute.
    public func pushAuthorizationRequest(
        _ parameters: [(name: String, value: String)], credentials: ClientCredentials,
        context: CallContext = .inProcess
    ) -> Answer<PushedRequest> {
        authenticate(credentials, context: context).then { client in
            let request = AuthorizationRequest(parameters: parameters)
            if try request.single("request_uri") != nil {
                throw AuthorityError(.invalidRequest, "request_uri cannot be pushed (RFC 9126 §2.1)")
            }
            if let named = try request.single("client_id"), named != client.clientID {
                throw AuthorityError(.invalidRequest, "client_id does not match the authenticated client")
            }
            var pushed = parameters.filter {
                !["client_id", "client_secret", "client_assertion", "client_assertion_type"].contains($0.name)
            }
            pushed.append((name: "client_id", value: client.clientID))
            do {
                _ = try self.checkAuthorization(AuthorizationRequest(parameters: pushed), pushed: true)
            } catch let refusal as AuthorizationRefusal {
                switch refusal {
                case .page(let failure), .redirect(let failure, _, _): throw failure
                }
            }
            let reference = Secrets.opaqueToken()
            var record = Authsec_Store_V1_PushedRequestRecord()
            record.clientID = client.clientID
            record.parameters = pushed.map { parameter in
                .with {
                    $0.name = parameter.name
                    $0.value = parameter.value
                }
            }
            record.expiresAt = self.clock.now() + Self.pushedRequestLifetime
            let stored = record
            return .pending {
                try await self.write { txn in
                    try txn.put(Keyspace.pushedRequests, Secrets.storageKey(reference), stored)
                }
                return PushedRequest(
                    requestURI: Self.requestURIPrefix + reference, expiresIn: Self.pushedRequestLifetime)
            }
        }
    }

    /// The pushed request a `request_uri` stands for, consumed: a second use is refused. The
    /// browser's other parameters are ignored except `client_id`, which must match (RFC 9126 §4).
    /// - Throws: `invalid_request_uri` for one that is unknown, expired, used or another client's.
    public func takePushedRequest(_ requestURI: String, clientID: String?) async throws -> AuthorizationRequest {
        let refused = AuthorityError(.invalidRequestURI, "request_uri is unknown, expired or already used")
        guard requestURI.hasPrefix(Self.requestURIPrefix), requestURI.utf8.count <= 256 else { throw refused }
        let key = Secrets.storageKey(String(requestURI.dropFirst(Self.requestURIPrefix.count)))
        let now = clock.now()
        let record = try await write { txn -> Authsec_Store_V1_PushedRequestRecord? in
            guard let record = try txn.get(Keyspace.pushedRequests, key) else { return nil }
            _ = try txn.delete(Keyspace.pushedRequests, key)
            return record
        }
        guard let record, now < record.expiresAt, clientID == nil || clientID == record.clientID else { throw refused }
        return AuthorizationRequest(parameters: record.parameters.map { ($0.name, $0.value) })
    }
}
