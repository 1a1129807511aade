import ClientModel
import Foundation
import Synchronization
import Testing

@testable import Authority

/// MCP and delegation in the domain, on a manual clock: registered clients expiring unused, the
/// resource index built by the migration, metadata documents kept within their bounds, and
/// exchanged tokens bound to their subject token's life.
@Suite struct DelegationTests {
    static let mcpURL = "https://mcp.example.com/mcp"

    func register(_ fixture: Fixture, name: String) async throws -> Registration {
        let body = #"{"client_name":"\#(name)","redirect_uris":["http://127.0.0.1:5/cb"],"token_endpoint_auth_method":"none"}"#
        return try await fixture.authority.register(Array(body.utf8), initialAccessToken: nil, context: .inProcess)
    }

    @Test func registeredClientsUnusedForTheirLifetimeExpireAndUsedOnesStay() async throws {
        let fixture = try await Fixture(registrationPolicy: RegistrationPolicy(isOpen: true, unusedLifetime: 86_400))
        defer { fixture.close() }
        let used = try await register(fixture, name: "Used")
        let unused = try await register(fixture, name: "Unused")
        #expect(used.client.isRegistered && used.accessToken != nil)
        fixture.clock.advance(by: 2 * 3600)
        fixture.authority.activity.addUsage(used.client.clientID, now: fixture.clock.now()) { $0.tokensIssued += 1 }
        try await fixture.authority.flushCounters()
        fixture.clock.advance(by: 86_400 - 2 * 3600 + 1)
        #expect(try await fixture.authority.purgeExpired() >= 1)
        #expect(throws: AuthorityError.self) { try fixture.authority.client(unused.client.clientID) }
        #expect(throws: AuthorityError.self) {
            try fixture.authority.registeredClient(unused.client.clientID, accessToken: unused.accessToken!)
        }
        #expect(try fixture.authority.client(used.client.clientID).name == "Used")
        // Unused since its last use, it expires in turn.
        fixture.clock.advance(by: 2 * 86_400)
        _ = try await fixture.authority.purgeExpired()
        #expect(throws: AuthorityError.self) { try fixture.authority.client(used.client.clientID) }
        #expect(try fixture.authority.listClients(pageSize: 50, pageToken: nil, registeredOnly: true).clients.isEmpty)
    }

    @Test func theMigrationIndexesTheResourcesOfExistingClients() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        var fields = Authsec_V1_Client()
        fields.name = "MCP"
        fields.appType = "mcp_server"
        fields.mcpConfig.resource = Self.mcpURL
        fields.mcpConfig.endpoints = ["tools": "https://mcp.example.com/tools"]
        _ = try await fixture.authority.createClient(fields, by: fixture.root)
        #expect(try fixture.authority.isRegisteredResource(Self.mcpURL))
        // Back to what version 8 held: no resource index.
        try await fixture.store.write { txn in
            for (key, _) in try txn.reader.scan(Keyspace.resourceServers, limit: .max) {
                _ = try txn.delete(Keyspace.resourceServers, key)
            }
            try txn.put(Keyspace.meta, "schema_version", Authority.encode(8))
        }
        #expect(try await Authority.migrate(fixture.store, sealingKey: fixture.sealingKey) == [9])
        let authority = try Authority(store: fixture.store, issuer: Fixture.issuer, sealingKey: fixture.sealingKey)
        #expect(try authority.isRegisteredResource(Self.mcpURL))
        #expect(try authority.isRegisteredResource("https://mcp.example.com/tools"))
        #expect(try !authority.isRegisteredResource("https://mcp.example.com/other"))
    }

    /// Answers one document, counting fetches.
    final class Documents: ClientDocumentResolver {
        let maxAge: Int64?
        let fetches = Atomic<Int>(0)
        init(maxAge: Int64?) { self.maxAge = maxAge }

        func clientDocument(at url: String) async throws -> (text: String, maxAge: Int64?) {
            fetches.add(1, ordering: .relaxed)
            return (#"{"client_id":"\#(url)","redirect_uris":["http://127.0.0.1:5/cb"]}"#, maxAge)
        }
    }

    @Test(arguments: [(Int64?.none, Int64(300)), (0, 60), (10, 60), (3600, 3600), (10_000_000, 86_400)])
    func aMetadataDocumentIsKeptAsItsHeadersSayWithinBounds(maxAge: Int64?, kept: Int64) async throws {
        let documents = Documents(maxAge: maxAge)
        let fixture = try await Fixture(documentResolver: documents)
        defer { fixture.close() }
        let url = "https://app.example/client.json"
        let client = try await fixture.authority.loadClientDocument(url)
        #expect(client.clientID == url && client.authMethod == .none && !client.isConfidential)
        fixture.clock.advance(by: kept - 1)
        _ = try await fixture.authority.loadClientDocument(url)
        #expect(documents.fetches.load(ordering: .relaxed) == 1)
        fixture.clock.advance(by: 1)
        #expect(try fixture.authority.registeredClient(url) == nil)
        _ = try await fixture.authority.loadClientDocument(url)
        #expect(documents.fetches.load(ordering: .relaxed) == 2)
    }

    @Test func aClientIDMustBeAURLWithAPathToNameADocument() {
        #expect(Authority.isClientDocumentURL("https://app.example/client.json"))
        #expect(!Authority.isClientDocumentURL("https://app.example/"))
        #expect(!Authority.isClientDocumentURL("https://app.example"))
        #expect(!Authority.isClientDocumentURL("https://user@app.example/c"))
        #expect(!Authority.isClientDocumentURL("https://app.example/a/../c"))
        #expect(!Authority.isClientDocumentURL("https://app.example/c#frag"))
        #expect(!Authority.isClientDocumentURL("app.example/c"))
    }

    @Test func anExchangedTokenNeverOutlivesItsSubjectToken() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let people = UserGrantTests()
        let web = try await people.webClient(fixture) {
            $0.accessTokenLifetime = 600
            $0.allowedAudiences = [Self.mcpURL]
        }
        let session = try await people.signedIn(fixture)
        let code = try await people.code(fixture, web, session)
        let person = try await people.exchange(fixture, web, code)
        var fields = Authsec_V1_Client()
        fields.name = "Agent"
        fields.appType = "ai_agent"
        fields.grantTypes = ["token_exchange"]
        fields.allowedScopes = ["profile"]
        fields.accessTokenLifetime = 3600
        let agent = try await fixture.authority.createClient(fields, by: fixture.root)
        func exchange() async throws -> TokenGrant {
            try await fixture.authority.token(
                TokenRequest(
                    grantType: "urn:ietf:params:oauth:grant-type:token-exchange", scope: nil, audiences: [],
                    credentials: .basic(clientID: agent.client.clientID, secret: agent.secret!),
                    subjectToken: person.accessToken, subjectTokenType: Authority.accessTokenType)
            ).value()
        }
        fixture.clock.advance(by: 100)
        let delegated = try await exchange()
        #expect(delegated.expiresIn == 500)
        #expect(delegated.refreshToken == nil && delegated.issuedTokenType == Authority.accessTokenType)
        let claims = try #require(try fixture.authority.verifyAccessToken(delegated.accessToken))
        #expect(claims.actors == [agent.client.clientID] && claims.scope == "profile")
        fixture.clock.advance(by: 500)
        await #expect(throws: AuthorityError.self) { _ = try await exchange() }
        #expect(try fixture.authority.verifyAccessToken(delegated.accessToken) == nil)
    }
}
