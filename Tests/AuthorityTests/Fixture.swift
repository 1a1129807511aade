import Foundation
import ClientModel
import Store

@testable import Authority

/// An initialized Authority over a temporary store and a manual clock.
struct Fixture {
    let authority: Authority
    let store: Store
    let clock: ManualClock
    let directory: String
    let admin: Authority.AdminCredentials
    /// The master key that sealed this store's signing keys.
    let sealingKey: SealingKey
    static let issuer = "http://127.0.0.1:8080"

    /// - Parameter passwordHasher: bcrypt at the lowest cost by default, so tests stay fast.
    init(
        auditRetention: Int64 = Authority.defaultAuditRetention,
        passwordHasher: any PasswordHasher = BcryptPasswordHasher(cost: 4),
        registrationPolicy: RegistrationPolicy = RegistrationPolicy(),
        documentResolver: (any ClientDocumentResolver)? = nil
    ) async throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("authsec-auth-\(UUID().uuidString)").path
        store = try Store(configuration: .init(directory: directory, schema: Keyspace.schema, mapSize: 64 << 20))
        clock = ManualClock()
        sealingKey = SealingKey.random()
        admin = try await Authority.initialize(store, sealingKey: sealingKey, clock: clock)
        authority = try Authority(
            store: store, issuer: Self.issuer, sealingKey: sealingKey, clock: clock, documentResolver: documentResolver,
            auditRetention: auditRetention, passwordHasher: passwordHasher, registrationPolicy: registrationPolicy)
    }

    /// The init admin as a management caller: it holds every reserved scope.
    var root: AdminCaller { AdminCaller(clientID: admin.clientID, reservedScopes: Scopes.reserved) }

    func close() {
        store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Registers scopes, then an ai_agent client allowed them.
    func agent(scopes: [String] = ["ai:access"], audiences: [String] = [], method: String? = nil) async throws
        -> ClientWithSecret
    {
        for name in scopes where try authority.listScopes().contains(where: { $0.name == name }) == false {
            _ = try await authority.createScope(name: name, description: "test scope")
        }
        var settings = Authsec_V1_Client()
        settings.name = "Agent"
        settings.appType = "ai_agent"
        settings.allowedScopes = scopes
        settings.allowedAudiences = audiences
        settings.tokenEndpointAuthMethod = method ?? ""
        return try await authority.createClient(settings, by: root)
    }

    func token(_ client: ClientWithSecret, scope: String? = nil, audiences: [String] = []) async throws -> TokenGrant {
        try await authority.token(
            TokenRequest(
                grantType: "client_credentials", scope: scope, audiences: audiences,
                credentials: .basic(clientID: client.client.clientID, secret: client.secret!))
        ).value()
    }

    func clientCount() throws -> Int {
        try store.read { try $0.count(Keyspace.clients) }
    }
}

extension Authority {
    /// A create that gives the fields `fields` sets.
    func createClient(_ fields: Authsec_V1_Client, by caller: AdminCaller) async throws -> ClientWithSecret {
        try await createClient(ClientChange(fields), by: caller)
    }

    /// An update, without a mask, of the fields `fields` sets.
    func updateClient(_ clientID: String, _ fields: Authsec_V1_Client, by caller: AdminCaller) async throws -> Client {
        try await updateClient(clientID, ClientChange(fields), by: caller)
    }
}

func expectError(
    _ code: AuthorityError.Code, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
) async {
    do {
        try await body()
        Issue.record("expected \(code.rawValue), got success", sourceLocation: sourceLocation)
    } catch let error as AuthorityError {
        #expect(error.code == code, "\(error.description)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}

import Testing
