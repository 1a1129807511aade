import ClientModel
import Foundation
import Store
import Testing

@testable import Authority

@Suite struct MigrationTests {
    /// 3 → 4: a ClientRecord with every field set becomes a StoredClient holding the same values.
    @Test func aVersion3ClientSurvivesWithEveryField() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authsec-v3-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try Store(
            configuration: .init(directory: directory.path, schema: Keyspace.schema, mapSize: 64 << 20))
        defer { store.close() }
        var old = Authsec_Store_V1_ClientRecord()
        old.clientID = "old-client"
        old.name = "Old"
        old.description_p = "from version 3"
        old.appType = "web"
        old.logo = "https://old.example.com/logo.png"
        old.website = "https://old.example.com"
        old.grantTypes = ["authorization_code", "refresh_token"]
        old.tokenEndpointAuthMethod = "client_secret_post"
        old.callbacks = ["https://old.example.com/cb"]
        old.webOrigins = ["https://old.example.com"]
        old.logoutUrls = ["https://old.example.com/bye"]
        old.allowedScopes = ["openid", "ai:access"]
        old.allowedAudiences = ["https://api.example.com"]
        old.resources = ["https://old.example.com/api"]
        old.disabled = true
        old.accessTokenLifetime = 600
        old.refreshTokenLifetime = 7200
        old.idTokenLifetime = 900
        old.rotateRefreshToken = false
        old.requirePkce = true
        old.jwksUri = "https://old.example.com/jwks.json"
        old.requirePar = true
        old.agentConfig = .with {
            $0.isSet = true
            $0.agentType = "task"
            $0.capabilities = ["search"]
            $0.contextRetention = "24h"
            $0.maxContextSize = 8192
            $0.rateLimits = .with {
                $0.requestsPerMinute = 60
                $0.tokensPerDay = 1000
            }
        }
        old.mcpConfig = .with {
            $0.isSet = true
            $0.protocolVersion = "2025-06-18"
            $0.supportedFeatures = ["tools"]
            $0.endpoints = ["tools": "https://old.example.com/mcp"]
            $0.requireAuth = true
            $0.allowedOrigins = ["https://trusted.example.com"]
        }
        old.createdAt = 1_750_000_000
        old.updatedAt = 1_750_000_100
        old.secretHashes = [Data(repeating: 1, count: 32), Data(repeating: 2, count: 32)]
        old.isAdmin = true
        let record = old
        try await store.write { txn in
            try txn.put(Keyspace.meta, "schema_version", Authority.encode(3))
            try txn.put(Authority.clientRecords, "old-client", record)
        }
        #expect(try await Authority.migrate(store, sealingKey: SealingKey.random()) == [4, 5, 6, 7, 8, 9])

        let stored = try #require(try store.read { try $0.get(Keyspace.clients, "old-client") })
        #expect(stored.secretHashes == old.secretHashes)
        let client = Client(record: stored)
        var expected = Authsec_V1_Client()
        expected.clientID = "old-client"
        expected.name = "Old"
        expected.description_p = "from version 3"
        expected.appType = "web"
        expected.logo = "https://old.example.com/logo.png"
        expected.website = "https://old.example.com"
        expected.grantTypes = ["authorization_code", "refresh_token"]
        expected.tokenEndpointAuthMethod = "client_secret_post"
        expected.callbacks = ["https://old.example.com/cb"]
        expected.webOrigins = ["https://old.example.com"]
        expected.logoutUrls = ["https://old.example.com/bye"]
        expected.allowedScopes = ["openid", "ai:access"]
        expected.allowedAudiences = ["https://api.example.com"]
        expected.resources = ["https://old.example.com/api"]
        expected.disabled = true
        expected.accessTokenLifetime = 600
        expected.refreshTokenLifetime = 7200
        expected.idTokenLifetime = 900
        expected.rotateRefreshToken = false
        expected.requireProofKeyForCodeExchange = true
        expected.jwksUri = "https://old.example.com/jwks.json"
        expected.requirePushedAuthorizationRequests = true
        expected.agentConfig = .with {
            $0.agentType = "task"
            $0.capabilities = ["search"]
            $0.contextRetention = "24h"
            $0.maxContextSize = 8192
            $0.rateLimits = .with {
                $0.requestsPerMinute = 60
                $0.tokensPerDay = 1000
            }
        }
        expected.mcpConfig = .with {
            $0.protocolVersion = "2025-06-18"
            $0.supportedFeatures = ["tools"]
            $0.endpoints = ["tools": "https://old.example.com/mcp"]
            $0.security = .with {
                $0.requireAuth = true
                $0.allowedOrigins = ["https://trusted.example.com"]
            }
        }
        expected.createdAt = 1_750_000_000
        expected.updatedAt = 1_750_000_100
        #expect(client.fields == expected)
        #expect(client.appType == .web && client.authMethod == .clientSecretPost && client.isDisabled)
        #expect(client.grantTypes == [.authorizationCode, .refreshToken])
        // A client without agent or MCP settings gets none, and its unset flags read false.
        var bare = Authsec_Store_V1_ClientRecord()
        bare.clientID = "bare"
        #expect(Authority.storedClient(bare).client == .with { $0.clientID = "bare" }.withFlagsSet())
    }
}

extension MigrationTests {
    /// 5 → 6: the init admin (meta `admin_client_id`) gets admin:users and the scope is
    /// registered; no other client gets it, and the users tables work at once.
    @Test func version5AdminGetsAdminUsers() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let delegate = try await fixture.agent(scopes: [Scopes.adminClients])
        // Back to what version 5 wrote: no admin:users anywhere.
        let adminID = fixture.admin.clientID
        try await fixture.store.write { txn in
            var admin = try #require(try txn.get(Keyspace.clients, adminID))
            admin.client.allowedScopes.removeAll { $0 == Scopes.adminUsers }
            try txn.put(Keyspace.clients, adminID, admin)
            _ = try txn.delete(Keyspace.scopes, Scopes.adminUsers)
            try txn.put(Keyspace.meta, "schema_version", Authority.encode(5))
        }
        #expect(try fixture.store.read { try $0.get(Keyspace.clients, adminID) }?.client.allowedScopes.count == 4)
        fixture.clock.advance(by: 60)
        #expect(try await Authority.migrate(fixture.store, sealingKey: fixture.sealingKey, clock: fixture.clock) == [6, 7, 8, 9])
        #expect(try await Authority.migrate(fixture.store, sealingKey: fixture.sealingKey) == [])

        let authority = try Authority(
            store: fixture.store, issuer: Fixture.issuer, sealingKey: fixture.sealingKey, clock: fixture.clock,
            passwordHasher: BcryptPasswordHasher(cost: 4))
        let admin = try authority.client(adminID)
        #expect(Set(admin.allowedScopes) == Scopes.reserved)
        #expect(admin.fields.updatedAt == fixture.clock.now())
        #expect(try authority.client(delegate.client.clientID).allowedScopes == [Scopes.adminClients])
        #expect(try authority.listScopes().contains { $0.name == Scopes.adminUsers })
        // The admin's management token now carries admin:users, and the user calls accept it.
        let grant = try await authority.token(
            TokenRequest(
                grantType: "client_credentials", scope: nil, audiences: [],
                credentials: .basic(clientID: adminID, secret: fixture.admin.clientSecret))
        ).value()
        let caller = try authority.authorizeAdmin(token: grant.accessToken, scope: Scopes.adminUsers)
        let user = try await authority.createUser(
            username: "first", email: "", name: "", password: "password1", by: caller)
        #expect(try authority.user("FIRST") == user)
    }
}

extension Authsec_V1_Client {
    fileprivate func withFlagsSet() -> Self {
        var copy = self
        copy.disabled = disabled
        copy.rotateRefreshToken = rotateRefreshToken
        copy.requireProofKeyForCodeExchange = requireProofKeyForCodeExchange
        copy.requirePushedAuthorizationRequests = requirePushedAuthorizationRequests
        return copy
    }
}
