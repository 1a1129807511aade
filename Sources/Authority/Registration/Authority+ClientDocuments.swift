import ClientModel
import Foundation
import Synchronization

/// Fetches a Client ID Metadata Document; the server supplies one (through its safe fetcher),
/// so Authority does no I/O.
public protocol ClientDocumentResolver: Sendable {
    /// The document at `url` as JSON text, and the seconds its `Cache-Control` allows keeping it
    /// (nil when it says nothing).
    func clientDocument(at url: String) async throws -> (text: String, maxAge: Int64?)
}

/// Clients known by their metadata document, kept in memory as long as the document's caching
/// headers allow, within bounds; bounded in bytes.
final class DocumentClients: Sendable {
    struct Entry: Sendable {
        let client: Client
        let expiresAt: Int64
    }

    /// Kept at least a minute (so one authorization's steps see one document) and at most a day;
    /// five minutes when the document says nothing.
    static let minLifetime: Int64 = 60
    static let maxLifetime: Int64 = 86_400
    static let defaultLifetime: Int64 = 300

    let entries = Mutex(ByteBoundedCache<String, Entry>(budget: 8 << 20))
}

extension Authority {
    /// Whether `clientID` names a Client ID Metadata Document: an http(s) URL with a path
    /// (whether http may be fetched is the fetcher's rule, `--allow-insecure-client-metadata`).
    public static func isClientDocumentURL(_ clientID: String) -> Bool {
        guard clientID.hasPrefix("https://") || clientID.hasPrefix("http://"), clientID.utf8.count <= 255,
            let url = URLComponents(string: clientID), let host = url.host, !host.isEmpty
        else { return false }
        return url.path.count > 1 && url.fragment == nil && url.user == nil && url.password == nil
            && !url.path.split(separator: "/").contains { $0 == "." || $0 == ".." }
    }

    /// The client a metadata document describes, if it was loaded and is still fresh.
    func documentClient(_ clientID: String) -> Client? {
        guard let entry = documentClients.entries.withLock({ $0[clientID] }), entry.expiresAt > clock.now() else {
            return nil
        }
        return entry.client
    }

    /// Loads the client `clientID` names by its metadata document (the MCP authorization
    /// specification's Client ID Metadata Documents), unless a fresh copy is held. A fetch that
    /// fails is `invalid_client` with the same words whatever the reason (the log tells them
    /// apart); a document that is not acceptable is `invalid_client` saying why.
    @discardableResult
    public func loadClientDocument(_ clientID: String) async throws -> Client {
        if let held = documentClient(clientID) { return held }
        guard Self.isClientDocumentURL(clientID), let documentResolver else {
            throw AuthorityError(.invalidClient, "the client is unknown or disabled")
        }
        let fetched: (text: String, maxAge: Int64?)
        do {
            fetched = try await documentResolver.clientDocument(at: clientID)
        } catch {
            throw AuthorityError(
                .invalidClient, "the client's metadata document could not be fetched", detail: "\(error)")
        }
        let client = try clientFromDocument(fetched.text, url: clientID)
        let lifetime = min(
            max(fetched.maxAge ?? DocumentClients.defaultLifetime, DocumentClients.minLifetime),
            DocumentClients.maxLifetime)
        documentClients.entries.withLock {
            $0.insert(
                DocumentClients.Entry(client: client, expiresAt: clock.now() + lifetime), for: clientID,
                cost: client.approximateByteCount)
        }
        return client
    }

    /// The client a document describes, checked as a registration is, and more: its `client_id`
    /// is the URL it was fetched from, it authenticates with `none` or `private_key_jwt` (never a
    /// secret), and it gets only the scopes a registration could.
    func clientFromDocument(_ text: String, url: String) throws -> Client {
        func refused(_ why: String) -> AuthorityError {
            AuthorityError(.invalidClient, "the client's metadata document is not acceptable: \(why)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw refused("it is not a JSON object")
        }
        guard (object["client_id"] as? String) == url else {
            throw refused("its client_id must be the document's URL")
        }
        if object["client_secret"] != nil || object["client_secret_expires_at"] != nil {
            throw refused("it must not hold a client_secret")
        }
        var withMethod = object
        if withMethod["token_endpoint_auth_method"] == nil { withMethod["token_endpoint_auth_method"] = "none" }
        let metadata: ClientMetadata
        do {
            metadata = try ClientMetadata(withMethod)
        } catch let error as AuthorityError {
            throw refused(error.description)
        }
        guard
            metadata.fields.tokenEndpointAuthMethod == ClientAuthMethod.none.rawValue
                || metadata.fields.tokenEndpointAuthMethod == ClientAuthMethod.privateKeyJWT.rawValue
        else { throw refused("token_endpoint_auth_method must be none or private_key_jwt") }
        guard !metadata.fields.callbacks.isEmpty else { throw refused("redirect_uris is required") }
        do {
            return try registeredFields(metadata, clientID: url, now: clock.now()) {
                $0.grantTypes = $0.grantTypes.filter {
                    $0 == GrantType.authorizationCode.rawValue || $0 == GrantType.refreshToken.rawValue
                }
            }
        } catch let error as AuthorityError {
            throw refused(error.description)
        }
    }
}
