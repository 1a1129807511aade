import ClientModel
import Store
import Testing

@testable import Authority

/// Fields named "Bad" of type ai_agent, with one change.
func bad(_ change: (inout Authsec_V1_Client) -> Void) -> Authsec_V1_Client {
    var settings = Authsec_V1_Client()
    settings.name = "Bad"
    settings.appType = "ai_agent"
    change(&settings)
    return settings
}

@Suite struct ClientRegistrationTests {
    @Test func initializingTwiceIsRefused() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        await expectError(.failedPrecondition) {
            _ = try await Authority.initialize(fixture.store, sealingKey: fixture.sealingKey, clock: fixture.clock)
        }
    }

    @Test(arguments: [
        ("ai_agent", [GrantType.clientCredentials], ClientAuthMethod.clientSecretBasic),
        ("ai-agent", [.clientCredentials], .clientSecretBasic),
        ("mcp_server", [.clientCredentials], .clientSecretBasic),
        ("web", [.authorizationCode, .refreshToken], .clientSecretBasic),
        ("mobile", [.authorizationCode, .refreshToken], .none),
    ])
    func typeDefaults(type: String, grants: [GrantType], method: ClientAuthMethod) async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        var settings = Authsec_V1_Client()
        settings.name = "Client"
        settings.appType = type
        let created = try await fixture.authority.createClient(settings, by: fixture.root)
        #expect(created.client.grantTypes == grants)
        #expect(created.client.authMethod == method)
        #expect((created.secret != nil) == method.usesSecret)
        #expect(created.client.accessTokenLifetime == 3600)
        #expect(created.client.refreshTokenLifetime == 2_592_000)
        if type == "web" || type == "mobile" { #expect(created.client.requireProofKeyForCodeExchange) }
        #expect(try fixture.authority.client(created.client.clientID) == created.client)
    }

    @Test func secretsAreLongRandomAndStoredOnlyHashed() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let created = try await fixture.agent()
        let secret = try #require(created.secret)
        #expect(secret.count >= 43)
        let raw = try String(contentsOfFile: fixture.directory + "/data.mdb", encoding: .isoLatin1)
        #expect(!raw.contains(secret))
    }

    /// Each refused configuration names its field and stores nothing.
    @Test(
        arguments: [
            (
                "callbacks", bad { s in s.callbacks = ["http://evil.example.com/cb"] },
                AuthorityError.Code.invalidRedirectURI
            ),
            ("callbacks", bad { s in s.callbacks = ["https://app.example.com/cb#frag"] }, .invalidRedirectURI),
            ("callbacks", bad { s in s.callbacks = ["not a url"] }, .invalidRedirectURI),
            // Public names and non-addresses that only look like loopback.
            ("callbacks", bad { s in s.callbacks = ["http://127.evil.example/cb"] }, .invalidRedirectURI),
            ("callbacks", bad { s in s.callbacks = ["http://127.0.0.1.nip.io/cb"] }, .invalidRedirectURI),
            ("callbacks", bad { s in s.callbacks = ["http://127.0.0.256/cb"] }, .invalidRedirectURI),
            ("callbacks", bad { s in s.callbacks = ["http://[::2]/cb"] }, .invalidRedirectURI),
            ("callbacks", bad { s in s.callbacks = ["com.example.app:/cb"] }, .invalidRedirectURI),
            ("grant_types", bad { s in s.grantTypes = ["password"] }, .invalidClientMetadata),
            ("grant_types", bad { s in s.grantTypes = ["teleport"] }, .invalidClientMetadata),
            ("app_type", bad { s in s.appType = "robot" }, .invalidClientMetadata),
            ("allowed_scopes", bad { s in s.allowedScopes = ["ai:missing"] }, .invalidClientMetadata),
            ("web_origins", bad { s in s.webOrigins = ["https://app.example.com/path"] }, .invalidClientMetadata),
            ("token_endpoint_auth_method", bad { s in s.tokenEndpointAuthMethod = "magic" }, .invalidClientMetadata),
            ("access_token_lifetime", bad { s in s.accessTokenLifetime = -5 }, .invalidClientMetadata),
            ("jwks_uri", bad { s in s.tokenEndpointAuthMethod = "private_key_jwt" }, .invalidClientMetadata),
            (
                "agent_config.agent_type", bad { s in s.agentConfig.agentType = "psychic" },
                .invalidClientMetadata
            ),
            (
                "agent_config.context_retention",
                bad { s in s.agentConfig.contextRetention = "forever" }, .invalidClientMetadata
            ),
            (
                "agent_config.rate_limits.requests_per_minute",
                bad { s in s.agentConfig.rateLimits.requestsPerMinute = -1 },
                .invalidClientMetadata
            ),
            (
                "mcp_config.supported_features",
                bad { s in s.mcpConfig.supportedFeatures = ["telepathy"] }, .invalidClientMetadata
            ),
            (
                "mcp_config.endpoints.tools",
                bad { s in s.mcpConfig.endpoints = ["tools": "http://mcp.example.com/tools"] },
                .invalidClientMetadata
            ),
        ] as [(String, Authsec_V1_Client, AuthorityError.Code)])
    func invalidConfigurationIsRefused(field: String, settings: Authsec_V1_Client, code: AuthorityError.Code)
        async throws
    {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let before = try fixture.clientCount()
        do {
            _ = try await fixture.authority.createClient(settings, by: fixture.root)
            Issue.record("accepted a bad \(field)")
        } catch let error as AuthorityError {
            #expect(error.code == code)
            #expect(error.description.hasPrefix(field + ":"), "\(error.description)")
        }
        #expect(try fixture.clientCount() == before)
    }

    @Test func plainHTTPCallbacksAreAllowedOnLoopbackAddresses() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        var settings = Authsec_V1_Client()
        settings.name = "Local"
        settings.appType = "web"
        settings.callbacks = [
            "http://localhost:3000/cb", "http://127.0.0.1:9000/cb", "http://127.5.6.7/cb", "http://[::1]:8080/cb",
        ]
        let created = try await fixture.authority.createClient(settings, by: fixture.root)
        #expect(created.client.callbacks.count == 4)
    }

    @Test func mobileAppsAreRefusedClientCredentials() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        var settings = Authsec_V1_Client()
        settings.name = "Phone"
        settings.appType = "mobile"
        settings.grantTypes = ["client_credentials"]
        await expectError(.invalidClientMetadata) {
            _ = try await fixture.authority.createClient(settings, by: fixture.root)
        }
        settings.grantTypes = []
        settings.callbacks = ["com.example.app:/oauth/callback", "http://127.0.0.1:9000/cb"]
        let created = try await fixture.authority.createClient(settings, by: fixture.root)
        #expect(created.secret == nil)
        #expect(created.client.callbacks.count == 2)
    }

    @Test func updateChangesOnlyGivenFieldsAndIsAllOrNothing() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let created = try await fixture.agent()
        var change = Authsec_V1_Client()
        change.description_p = "updated"
        change.agentConfig.agentType = "task"
        change.agentConfig.rateLimits = .with {
            $0.requestsPerMinute = 60
            $0.tokensPerDay = 1000
        }
        let updated = try await fixture.authority.updateClient(created.client.clientID, change, by: fixture.root)
        #expect(updated.description_p == "updated")
        #expect(updated.name == "Agent")
        #expect(updated.agentConfig.rateLimits.requestsPerMinute == 60)
        var bad = Authsec_V1_Client()
        bad.name = "Renamed"
        bad.callbacks = ["ftp://nope"]
        await expectError(.invalidRedirectURI) {
            _ = try await fixture.authority.updateClient(created.client.clientID, bad, by: fixture.root)
        }
        #expect(try fixture.authority.client(created.client.clientID).name == "Agent")
    }

    /// With a mask, exactly the named fields change: a named field without a value is cleared,
    /// except grant types, the auth method and lifetimes, which keep theirs.
    @Test func anUpdateMaskNamesExactlyTheFieldsChanged() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let created = try await fixture.agent(scopes: ["ai:access"])
        let id = created.client.clientID
        var fields = Authsec_V1_Client()
        fields.description_p = "with an agent"
        fields.agentConfig.agentType = "task"
        _ = try await fixture.authority.updateClient(id, fields, by: fixture.root)
        fields = Authsec_V1_Client()
        fields.name = "ignored: not in the mask"
        let change = try ClientChange(
            fields, mask: ["agent_config", "allowed_scopes", "grant_types", "access_token_lifetime", "disabled"])
        let updated = try await fixture.authority.updateClient(id, change, by: fixture.root)
        #expect(updated.name == "Agent" && updated.description_p == "with an agent")
        #expect(!updated.hasAgentConfig && updated.allowedScopes.isEmpty)
        #expect(updated.grantTypes == [.clientCredentials] && updated.accessTokenLifetime == 3600)
        #expect(updated.hasDisabled && !updated.disabled)
        #expect(try fixture.authority.client(id) == updated)
        for field in [
            "surprise", "created_at", "client_id", "is_confidential", "agent_config.mood", "client_id.x",
            "agent_config.rate_limits.requests_per_minute.x", "mcp_config.endpoints.sse", "",
        ] {
            #expect {
                _ = try ClientChange(fields, mask: [field])
            } throws: { error in
                (error as? AuthorityError).map {
                    $0.code == .invalidRequest
                        && $0.description == "update_mask: '\(field)' is not a client field that can be changed"
                } ?? false
            }
        }
        // Without a mask, what has a value is given; server-set fields never are.
        fields.clientID = "chosen"
        fields.createdAt = 5
        fields.rotateRefreshToken = false
        #expect(ClientChange(fields).given == ["name", "rotate_refresh_token"])
    }

    /// A create fills in the type's defaults where the change gives nothing, instead of merging
    /// the change onto them: the two must make the same client.
    @Test(arguments: [
        Authsec_V1_Client.with { $0.name = "Bare" },
        .with {
            $0.name = "Web"
            $0.appType = "web"
            $0.callbacks = ["https://app.example/cb"]
            $0.rotateRefreshToken = false
        },
        .with {
            $0.name = "Mobile"
            $0.appType = "mobile"
            $0.callbacks = ["com.example.app:/cb"]
            $0.grantTypes = ["authorization_code"]
            $0.accessTokenLifetime = 600
        },
        .with {
            $0.name = "Agent"
            $0.appType = "ai-agent"
            $0.tokenEndpointAuthMethod = "client_secret_post"
            $0.agentConfig.agentType = "task"
            $0.requirePushedAuthorizationRequests = true
            $0.disabled = true
        },
    ])
    func fillingDefaultsMakesTheSameClientAsMergingOntoThem(fields: Authsec_V1_Client) throws {
        let change = ClientChange(fields)
        #expect(change.givesWhatHasValues)
        let type = AppType(spelling: fields.appType.isEmpty ? "ai_agent" : fields.appType)!
        let base = Client(fields: Client.defaults(clientID: "c1", appType: type, now: 1000))
        let merged = try ClientValidator.apply(change, to: base) { _ in true }
        let filled = try ClientValidator.validate(
            Client.defaults(filling: fields, clientID: "c1", appType: type, now: 1000), base: base
        ) { _ in true }
        #expect(merged == filled)
    }

    @Test func aNestedMaskPathChangesOnlyThatPartOfTheAgent() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        var fields = Authsec_V1_Client()
        fields.name = "Nested"
        fields.agentConfig.agentType = "task"
        fields.agentConfig.capabilities = ["search"]
        fields.agentConfig.rateLimits.requestsPerMinute = 60
        fields.agentConfig.rateLimits.tokensPerDay = 1000
        let id = try await fixture.authority.createClient(fields, by: fixture.root).client.clientID
        var change = Authsec_V1_Client()
        change.agentConfig.rateLimits.tokensPerDay = 5000
        change.agentConfig.agentType = "ignored: not in the mask"
        let updated = try await fixture.authority.updateClient(
            id, try ClientChange(change, mask: ["agent_config.rate_limits.tokens_per_day"]), by: fixture.root)
        #expect(updated.agentConfig.agentType == "task" && updated.agentConfig.capabilities == ["search"])
        #expect(updated.agentConfig.rateLimits.requestsPerMinute == 60)
        #expect(updated.agentConfig.rateLimits.tokensPerDay == 5000)
        // A nested path without a value clears just that setting; the validator still applies.
        let cleared = try await fixture.authority.updateClient(
            id, try ClientChange(Authsec_V1_Client(), mask: ["agent_config.rate_limits.requests_per_minute"]),
            by: fixture.root)
        #expect(!cleared.agentConfig.rateLimits.hasRequestsPerMinute)
        #expect(cleared.agentConfig.rateLimits.tokensPerDay == 5000 && cleared.agentConfig.agentType == "task")
        var bad = Authsec_V1_Client()
        bad.agentConfig.agentType = "poet"
        await expectError(.invalidClientMetadata) {
            _ = try await fixture.authority.updateClient(
                id, try ClientChange(bad, mask: ["agent_config.agent_type"]), by: fixture.root)
        }
        #expect(try fixture.authority.client(id) == cleared)
    }

    @Test func listPagesThroughEveryClient() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        for _ in 0..<7 { _ = try await fixture.agent() }
        var seen: [String] = []
        var token: String?
        repeat {
            let page = try fixture.authority.listClients(pageSize: 3, pageToken: token)
            #expect(page.clients.count <= 3)
            seen += page.clients.map(\.clientID)
            token = page.nextPageToken
        } while token != nil
        #expect(seen.count == 8)  // seven agents and the admin
        #expect(Set(seen).count == 8)
    }

    @Test func deleteRemovesTheClientAndItsSecret() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let created = try await fixture.agent()
        try await fixture.authority.deleteClient(created.client.clientID, by: fixture.root)
        await expectError(.notFound) { _ = try fixture.authority.client(created.client.clientID) }
        await expectError(.invalidClient) { _ = try await fixture.token(created) }
        await expectError(.notFound) {
            try await fixture.authority.deleteClient(created.client.clientID, by: fixture.root)
        }
        // The admin cannot lock itself out.
        await expectError(.failedPrecondition) {
            try await fixture.authority.deleteClient(fixture.admin.clientID, by: fixture.root)
        }
        #expect(try fixture.authority.client(fixture.admin.clientID).clientID == fixture.admin.clientID)
    }

    @Test func scopesRegistry() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        _ = try await fixture.authority.createScope(
            name: "mcp:context:read", description: "Read MCP context information")
        await expectError(.alreadyExists) {
            _ = try await fixture.authority.createScope(name: "mcp:context:read", description: "")
        }
        await expectError(.invalidRequest) {
            _ = try await fixture.authority.createScope(name: "has space", description: "")
        }
        await expectError(.failedPrecondition) { try await fixture.authority.deleteScope("admin:clients") }
        #expect(try fixture.authority.listScopes().map(\.name).contains("mcp:context:read"))
        // A scope a client is allowed stays until no client names it.
        var settings = Authsec_V1_Client()
        settings.name = "Reader"
        settings.allowedScopes = ["mcp:context:read"]
        let reader = try await fixture.authority.createClient(settings, by: fixture.root)
        await expectError(.failedPrecondition) { try await fixture.authority.deleteScope("mcp:context:read") }
        #expect(try fixture.authority.listScopes().map(\.name).contains("mcp:context:read"))
        try await fixture.authority.deleteClient(reader.client.clientID, by: fixture.root)
        try await fixture.authority.deleteScope("mcp:context:read")
        await expectError(.notFound) { try await fixture.authority.deleteScope("mcp:context:read") }
    }

    @Test(
        arguments: [("30s", 30), ("10m", 600), ("1h", 3600), ("3600s", 3600), ("7d", 604_800), ("90", 90)]
            as [(String, Int64)])
    func durations(text: String, seconds: Int64) {
        #expect(DurationText.seconds(text) == seconds)
    }

    @Test(arguments: ["", "h", "-5m", "1.5h", "ten", "1x", "5y", "10M"])
    func badDurations(text: String) {
        #expect(DurationText.seconds(text) == nil)
    }
}

@Suite struct SecretTests {
    /// `--client-secret -x…` would be read as an option: nothing generated starts with `-` (or
    /// `_`). One random base64url draw in 32 does, so 2,000 draws catch a missing redraw; the time
    /// prefixes are checked at both ends of their range.
    @Test func generatedCredentialsNeverLookLikeCommandLineOptions() throws {
        var credentials = (0..<2000).map { _ in Secrets.randomBase64URL(bytes: 9) }
        for milliseconds: Int64 in [-1, 0, 61, 62, 1 << 47, .max] {
            credentials += [
                Secrets.clientSecret(milliseconds: milliseconds), Secrets.clientID(milliseconds: milliseconds),
            ]
        }
        for credential in credentials {
            let first = try #require(credential.unicodeScalars.first)
            #expect(first.isASCII && first.properties.isAlphabetic || ("0"..."9").contains(first), "\(credential)")
        }
        let secret = Secrets.clientSecret()
        #expect(secret.utf8.count == Secrets.secretLength)
        #expect(Base64URL.decode(secret.dropFirst(8))?.count == 32)
    }

    @Test func secretKeysSortByCreationTime() {
        let older = Secrets.hash(Secrets.clientSecret(milliseconds: 1_764_000_000_000))
        let newer = Secrets.hash(Secrets.clientSecret(milliseconds: 1_764_000_000_001))
        #expect(older.count == 40 && newer.count == 40)
        #expect(older.lexicographicallyPrecedes(newer))
        // A secret of another shape (from an earlier release, or a guess) is looked up by its bare hash.
        #expect(Secrets.hash("short").count == 32)
    }
}

@Suite struct CommitThenAnswerTests {
    /// A refusal returned as a value keeps the write's changes; a thrown one rolls them back.
    @Test func aRefusalCanBeCommitted() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        var revoked = Authsec_Store_V1_RevokedTokenRecord()
        revoked.expiresAt = fixture.clock.now() + 60
        let record = revoked
        await expectError(.invalidGrant) {
            _ = try await fixture.authority.commitThenAnswer { txn -> Result<Int, AuthorityError> in
                try txn.put(Keyspace.revokedTokens, "kept", record)
                return .failure(AuthorityError(.invalidGrant, "reuse detected"))
            }
        }
        await expectError(.invalidGrant) {
            _ = try await fixture.authority.commitThenAnswer { txn -> Result<Int, AuthorityError> in
                try txn.put(Keyspace.revokedTokens, "dropped", record)
                throw AuthorityError(.invalidGrant, "rolled back")
            }
        }
        #expect(try await fixture.authority.commitThenAnswer { _ in .success(7) } == 7)
        #expect(try fixture.store.read { try $0.get(Keyspace.revokedTokens, "kept") } != nil)
        #expect(try fixture.store.read { try $0.get(Keyspace.revokedTokens, "dropped") } == nil)
    }
}
