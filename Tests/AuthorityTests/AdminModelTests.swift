import Foundation
import ClientModel
import Store
import Testing

@testable import Authority

/// The admin model and the introspection policy (DESIGN.md "Security invariants").
@Suite struct AdminModelTests {
    /// A client allowed `scopes`, with a management caller built from a real token of its own.
    func admin(_ fixture: Fixture, scopes: [String]) async throws -> (client: ClientWithSecret, caller: AdminCaller) {
        var settings = Authsec_V1_Client()
        settings.name = "Delegated admin"
        settings.allowedScopes = scopes
        let client = try await fixture.authority.createClient(settings, by: fixture.root)
        let token = try await fixture.token(client).accessToken
        return (client, try fixture.authority.authorizeAdmin(token: token, scope: scopes[0]))
    }

    @Test func managementScopesComeOnlyForTheManagementAudienceAlone() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        _ = try await fixture.authority.createScope(name: "ai:access", description: "")
        var settings = Authsec_V1_Client()
        settings.name = "Admin with an API"
        settings.allowedScopes = ["admin:clients", "ai:access"]
        settings.allowedAudiences = ["https://api.example.com"]
        let client = try await fixture.authority.createClient(settings, by: fixture.root)
        // By default, management scopes make the token a management token.
        let management = try await fixture.token(client)
        let claims = try #require(try fixture.authority.verifyAccessToken(management.accessToken))
        #expect(claims.aud == [Scopes.managementAudience])
        #expect(management.scope == "admin:clients ai:access")
        // For a resource server, the management scopes are left out, and asking for one is refused.
        let forAPI = try await fixture.token(client, audiences: ["https://api.example.com"])
        #expect(forAPI.scope == "ai:access")
        await expectError(.invalidScope) {
            _ = try await fixture.token(client, scope: "admin:clients", audiences: ["https://api.example.com"])
        }
        await expectError(.invalidTarget) {
            _ = try await fixture.token(
                client, audiences: [Scopes.managementAudience, "https://api.example.com"])
        }
        // A client without a management scope cannot ask for the management audience.
        let agent = try await fixture.agent()
        await expectError(.invalidTarget) { _ = try await fixture.token(agent, audiences: [Scopes.managementAudience]) }
        // A token for the API is refused at the management door.
        await expectError(.invalidToken) {
            _ = try fixture.authority.authorizeAdmin(token: forAPI.accessToken, scope: Scopes.adminClients)
        }
    }

    @Test func managementTokensFollowTheirClientsCurrentState() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let (client, _) = try await admin(fixture, scopes: ["admin:clients", "admin:scopes"])
        let token = try await fixture.token(client).accessToken
        _ = try fixture.authority.authorizeAdmin(token: token, scope: Scopes.adminScopes)
        // The scope is taken away: the token no longer carries it, though it is unexpired.
        var change = Authsec_V1_Client()
        change.allowedScopes = ["admin:clients"]
        _ = try await fixture.authority.updateClient(client.client.clientID, change, by: fixture.root)
        await expectError(.insufficientScope) {
            _ = try fixture.authority.authorizeAdmin(token: token, scope: Scopes.adminScopes)
        }
        _ = try fixture.authority.authorizeAdmin(token: token, scope: Scopes.adminClients)
        // The client is deleted: its token stops at once, at the management door and at introspection.
        try await fixture.authority.deleteClient(client.client.clientID, by: fixture.root)
        await expectError(.invalidToken) {
            _ = try fixture.authority.authorizeAdmin(token: token, scope: Scopes.adminClients)
        }
        let gateway = ClientCredentials.basic(clientID: fixture.admin.clientID, secret: fixture.admin.clientSecret)
        #expect(try await fixture.authority.introspect(token: token, credentials: gateway).value().isActive == false)
        // The deletion record is purged only after the longest token lifetime.
        #expect(try await fixture.authority.purgeExpired() == 0)
        fixture.clock.advance(by: Client.maxAccessTokenLifetime + 1)
        #expect(try await fixture.authority.purgeExpired() == 1)
    }

    @Test func noEscalation() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let (delegate, caller) = try await admin(fixture, scopes: ["admin:clients"])
        #expect(caller.reservedScopes == [Scopes.adminClients])
        let root = fixture.admin.clientID
        var keys = Authsec_V1_Client()
        keys.name = "Key rotator"
        keys.allowedScopes = ["admin:keys"]
        await expectError(.accessDenied) { _ = try await fixture.authority.createClient(keys, by: caller) }
        var introspector = Authsec_V1_Client()
        introspector.name = "Gateway"
        introspector.allowedScopes = [Scopes.introspectAny]
        await expectError(.accessDenied) { _ = try await fixture.authority.createClient(introspector, by: caller) }
        // The root admin holds admin:keys, which the delegate lacks: hands off.
        var rename = Authsec_V1_Client()
        rename.description_p = "taken over"
        await expectError(.accessDenied) { _ = try await fixture.authority.updateClient(root, rename, by: caller) }
        await expectError(.accessDenied) {
            _ = try await fixture.authority.rotateClientSecret(root, keepPreviousFor: 0, by: caller)
        }
        await expectError(.accessDenied) { try await fixture.authority.deleteClient(root, by: caller) }
        // Nor can it raise itself.
        var raise = Authsec_V1_Client()
        raise.allowedScopes = ["admin:clients", "admin:scopes"]
        await expectError(.accessDenied) {
            _ = try await fixture.authority.updateClient(delegate.client.clientID, raise, by: caller)
        }
        #expect(try fixture.authority.client(delegate.client.clientID).allowedScopes == ["admin:clients"])
        #expect(try fixture.authority.client(root).description_p != "taken over")
        // What it holds it may give, and it may manage clients holding nothing it lacks.
        var peer = Authsec_V1_Client()
        peer.name = "Peer admin"
        peer.allowedScopes = ["admin:clients"]
        let created = try await fixture.authority.createClient(peer, by: caller)
        _ = try await fixture.authority.rotateClientSecret(created.client.clientID, keepPreviousFor: 0, by: caller)
        try await fixture.authority.deleteClient(created.client.clientID, by: caller)
    }

    @Test func aClientCannotLockItselfOut() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let (delegate, caller) = try await admin(fixture, scopes: ["admin:clients"])
        var noGrant = Authsec_V1_Client()
        noGrant.grantTypes = ["authorization_code"]
        noGrant.callbacks = ["https://admin.example.com/cb"]
        await expectError(.failedPrecondition) {
            _ = try await fixture.authority.updateClient(delegate.client.clientID, noGrant, by: caller)
        }
        // Another client may be changed that way.
        let other = try await fixture.agent()
        _ = try await fixture.authority.updateClient(other.client.clientID, noGrant, by: caller)
    }

    /// A disabled client cannot authenticate and its management tokens stop; enabling restores
    /// both. Disabling is a change like any other: not of oneself, not of a client holding more.
    @Test func disabledClientsStopUntilEnabled() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let (delegate, caller) = try await admin(fixture, scopes: ["admin:clients"])
        let token = try await fixture.token(delegate).accessToken
        var disable = Authsec_V1_Client()
        disable.disabled = true
        _ = try await fixture.authority.updateClient(delegate.client.clientID, disable, by: fixture.root)
        await expectError(.invalidClient) { _ = try await fixture.token(delegate) }
        await expectError(.invalidToken) {
            _ = try fixture.authority.authorizeAdmin(token: token, scope: Scopes.adminClients)
        }
        #expect(try fixture.authority.client(delegate.client.clientID).isDisabled)
        var enable = Authsec_V1_Client()
        enable.disabled = false
        _ = try await fixture.authority.updateClient(delegate.client.clientID, enable, by: fixture.root)
        _ = try await fixture.token(delegate)
        _ = try fixture.authority.authorizeAdmin(token: token, scope: Scopes.adminClients)
        // Not oneself, and not a client holding a reserved scope the caller lacks.
        await expectError(.failedPrecondition) {
            _ = try await fixture.authority.updateClient(delegate.client.clientID, disable, by: caller)
        }
        await expectError(.accessDenied) {
            _ = try await fixture.authority.updateClient(fixture.admin.clientID, disable, by: caller)
        }
    }

    @Test func introspectionPolicy() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let api = "https://api.example.com"
        let mcpEndpoint = "https://mcp.example.com/mcp"
        let agent = try await fixture.agent(audiences: [api, mcpEndpoint])
        let forAPI = try await fixture.token(agent, audiences: [api]).accessToken
        let forMCP = try await fixture.token(agent, audiences: [mcpEndpoint]).accessToken
        func credentials(_ client: ClientWithSecret) -> ClientCredentials {
            .basic(clientID: client.client.clientID, secret: client.secret!)
        }
        func sees(_ token: String, as caller: ClientCredentials) async throws -> Bool {
            try await fixture.authority.introspect(token: token, credentials: caller).value().isActive
        }
        // The token's own client sees it.
        #expect(try await sees(forAPI, as: credentials(agent)))
        // A stranger does not, though it authenticates.
        let stranger = try await fixture.agent()
        #expect(try await sees(forAPI, as: credentials(stranger)) == false)
        // The resource server named in aud does, and only for its own tokens.
        var resource = Authsec_V1_Client()
        resource.name = "API"
        resource.resources = [api]
        let apiServer = try await fixture.authority.createClient(resource, by: fixture.root)
        #expect(try await sees(forAPI, as: credentials(apiServer)))
        #expect(try await sees(forMCP, as: credentials(apiServer)) == false)
        // An MCP server's endpoint URLs are its resources.
        var mcp = Authsec_V1_Client()
        mcp.name = "MCP server"
        mcp.appType = "mcp_server"
        mcp.mcpConfig.endpoints = ["mcp": mcpEndpoint]
        let mcpServer = try await fixture.authority.createClient(mcp, by: fixture.root)
        #expect(try await sees(forMCP, as: credentials(mcpServer)))
        #expect(try await sees(forAPI, as: credentials(mcpServer)) == false)
        // A gateway holding authsec:introspect sees everything.
        var gatewaySettings = Authsec_V1_Client()
        gatewaySettings.name = "Gateway"
        gatewaySettings.allowedScopes = [Scopes.introspectAny]
        let gateway = try await fixture.authority.createClient(gatewaySettings, by: fixture.root)
        #expect(try await sees(forAPI, as: credentials(gateway)))
        #expect(try await sees(forMCP, as: credentials(gateway)))
    }

    @Test func resourcesAreValidated() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        for bad in ["not a uri", "ftp://files.example.com", "http://api.example.com", "https://api.example.com/#x"] {
            var settings = Authsec_V1_Client()
            settings.name = "API"
            settings.resources = [bad]
            await expectError(.invalidClientMetadata) {
                _ = try await fixture.authority.createClient(settings, by: fixture.root)
            }
        }
        var settings = Authsec_V1_Client()
        settings.name = "API"
        settings.resources = ["https://api.example.com", "http://127.0.0.1:9000/api"]
        let created = try await fixture.authority.createClient(settings, by: fixture.root)
        #expect(try fixture.authority.client(created.client.clientID).resources == settings.resources)
    }

    @Test func theInitAdminHoldsEveryReservedScope() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        #expect(Set(try fixture.authority.client(fixture.admin.clientID).allowedScopes) == Scopes.reserved)
    }

    /// A data directory written by schema version 1 (see Fixtures/store-v1/README.md) is migrated.
    @Test func migratesAVersion1Store() async throws {
        let fixtureDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/store-v1")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authsec-v1-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(
            at: fixtureDirectory.appendingPathComponent("data.mdb"), to: directory.appendingPathComponent("data.mdb"))
        let store = try Store(
            configuration: .init(directory: directory.path, schema: Keyspace.schema, mapSize: 64 << 20))
        defer { store.close() }
        let sealingKey = SealingKey.random()
        // Version 1 is refused until migrated.
        await expectError(.failedPrecondition) {
            _ = try Authority(store: store, issuer: Fixture.issuer, sealingKey: sealingKey)
        }
        #expect(try await Authority.migrate(store, sealingKey: sealingKey) == [2, 3, 4, 5, 6, 7, 8, 9])
        #expect(try await Authority.migrate(store, sealingKey: sealingKey) == [])
        let authority = try Authority(store: store, issuer: Fixture.issuer, sealingKey: sealingKey)
        let adminID = "admin-qivxtNONFNdO"
        #expect(Set(try authority.client(adminID).allowedScopes) == Scopes.reserved)
        #expect(try authority.listScopes().contains { $0.name == Scopes.introspectAny })
        // The version-1 data is intact: the admin's secret, the scope and the agent.
        let grant = try await authority.token(
            TokenRequest(
                grantType: "client_credentials", scope: "admin:clients", audiences: [],
                credentials: .basic(
                    clientID: adminID, secret: "0VcQmaOsjrKfwbCWg8-eW0tel5r4-6H29w8sLB4mji3Y2Tcc2Ko"))
        ).value()
        _ = try authority.authorizeAdmin(token: grant.accessToken, scope: Scopes.adminClients)
        let agents = try authority.listClients(pageSize: 10, pageToken: nil).clients.filter { $0.name == "v1 agent" }
        #expect(agents.map(\.allowedScopes) == [["ai:access"]])
        // Through every step to version 4, its other fields too: the type's defaults it was made with.
        let agent = try #require(agents.first)
        #expect(agent.appType == .aiAgent && agent.grantTypes == [.clientCredentials])
        #expect(agent.authMethod == .clientSecretBasic && agent.isConfidential && !agent.isDisabled)
        #expect(agent.accessTokenLifetime == 3600 && agent.refreshTokenLifetime == 2_592_000)
        #expect(agent.hasRotateRefreshToken && agent.rotateRefreshToken)
        #expect(agent.hasRequireProofKeyForCodeExchange && agent.requireProofKeyForCodeExchange)
        #expect(agent.createdAt > 1_700_000_000 && agent.updatedAt == agent.createdAt)
        #expect(!agent.hasAgentConfig && !agent.hasMcpConfig)
    }
}
