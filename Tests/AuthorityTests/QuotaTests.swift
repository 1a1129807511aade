import ClientModel
import Testing

@testable import Authority

/// `rate_limits.tokens_per_day`: charges by a gateway against an agent's daily budget.
@Suite struct QuotaTests {
    static let gatewayURL = "https://gateway.example/llm"

    /// An agent with `budget` model tokens a day (none when nil), its token for the gateway, and
    /// the gateway (a client whose resource the token names).
    struct Parties {
        let agent: ClientWithSecret
        let token: String
        let gateway: Client
    }

    func parties(_ fixture: Fixture, budget: Int64?) async throws -> Parties {
        var agentFields = Authsec_V1_Client()
        agentFields.name = "Budgeted agent"
        agentFields.allowedAudiences = [Self.gatewayURL]
        agentFields.agentConfig.agentType = "conversational"
        if let budget { agentFields.agentConfig.rateLimits.tokensPerDay = budget }
        let agent = try await fixture.authority.createClient(agentFields, by: fixture.root)
        let token = try await fixture.token(agent, audiences: [Self.gatewayURL]).accessToken
        var gatewayFields = Authsec_V1_Client()
        gatewayFields.name = "LLM gateway"
        gatewayFields.resources = [Self.gatewayURL]
        let gateway = try await fixture.authority.createClient(gatewayFields, by: fixture.root).client
        return Parties(agent: agent, token: token, gateway: gateway)
    }

    @Test func tenConcurrentChargesOf100Against500AllowExactlyFive() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let parties = try await parties(fixture, budget: 500)
        let authority = fixture.authority
        let outcomes = try await withThrowingTaskGroup(of: QuotaCharge.self) { group in
            for _ in 0..<10 {
                group.addTask { try authority.charge(token: parties.token, amount: 100, by: parties.gateway) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter(\.allowed).count == 5)
        #expect(outcomes.allSatisfy { $0.remaining.map { (0...400).contains($0) } == true })
        #expect(try authority.quota(parties.agent.client.clientID).spent == 500)
    }

    @Test func aChargePastTheBudgetChargesNothing() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let parties = try await parties(fixture, budget: 500)
        let charge = { (amount: Int64) in
            try fixture.authority.charge(token: parties.token, amount: amount, by: parties.gateway)
        }
        #expect(try charge(400) == QuotaCharge(allowed: true, remaining: 100, resetsAt: try charge(1).resetsAt))
        // 401 spent now; 100 would pass the budget of 500 and is refused whole.
        let refused = try charge(100)
        #expect(!refused.allowed && refused.remaining == 99)
        #expect(try charge(99).allowed)
        #expect(try charge(1) == QuotaCharge(allowed: false, remaining: 0, resetsAt: refused.resetsAt))
        #expect(try fixture.authority.quota(parties.agent.client.clientID).spent == 500)
    }

    @Test func amountsOutsideOneToABillionAreInvalid() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let parties = try await parties(fixture, budget: 1_000_000_000_000)
        for amount: Int64 in [0, -1, -100, 1_000_000_001, .max] {
            await expectError(.invalidRequest) {
                _ = try fixture.authority.charge(token: parties.token, amount: amount, by: parties.gateway)
            }
        }
        #expect(try fixture.authority.charge(token: parties.token, amount: 1_000_000_000, by: parties.gateway).allowed)
    }

    @Test func expiredRevokedForeignAndOwnTokensAreRefused() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let parties = try await parties(fixture, budget: 1000)
        let authority = fixture.authority
        // A caller the introspection policy does not let see the token: same answer as an unknown token.
        let stranger = try await fixture.agent().client
        await expectError(.invalidRequest) { _ = try authority.charge(token: parties.token, amount: 1, by: stranger) }
        await expectError(.invalidRequest) {
            _ = try authority.charge(token: "not-a-token", amount: 1, by: parties.gateway)
        }
        await expectError(.invalidRequest) { _ = try authority.charge(token: "", amount: 1, by: parties.gateway) }
        // An agent cannot charge its own token.
        await expectError(.accessDenied) {
            _ = try authority.charge(token: parties.token, amount: 1, by: parties.agent.client)
        }
        // Revoked.
        let revoked = try await fixture.token(parties.agent, audiences: [Self.gatewayURL]).accessToken
        try await authority.revoke(
            token: revoked, tokenTypeHint: nil,
            credentials: .basic(clientID: parties.agent.client.clientID, secret: parties.agent.secret!)
        ).value()
        await expectError(.invalidRequest) { _ = try authority.charge(token: revoked, amount: 1, by: parties.gateway) }
        // Expired.
        fixture.clock.advance(by: Client.defaultAccessTokenLifetime + 1)
        await expectError(.invalidRequest) {
            _ = try authority.charge(token: parties.token, amount: 1, by: parties.gateway)
        }
        // Nothing was charged by any of them.
        #expect(try authority.quota(parties.agent.client.clientID).spent == 0)
    }

    @Test func theBudgetResetsAtTheDayBoundary() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let parties = try await parties(fixture, budget: 300)
        let now = fixture.clock.now()
        let midnight = (now / 86_400 + 1) * 86_400
        let first = try fixture.authority.charge(token: parties.token, amount: 300, by: parties.gateway)
        #expect(first.allowed && first.resetsAt == midnight)
        #expect(!(try fixture.authority.charge(token: parties.token, amount: 1, by: parties.gateway).allowed))
        // One second before midnight (with a fresh token): still spent. At midnight: a new day.
        fixture.clock.advance(by: midnight - now - 1)
        let token = try await fixture.token(parties.agent, audiences: [Self.gatewayURL]).accessToken
        #expect(!(try fixture.authority.charge(token: token, amount: 1, by: parties.gateway).allowed))
        fixture.clock.advance(by: 1)
        let next = try fixture.authority.charge(token: token, amount: 1, by: parties.gateway)
        #expect(next == QuotaCharge(allowed: true, remaining: 299, resetsAt: midnight + 86_400))

        // A quota day that starts at 17:30 UTC.
        let offset = Authority(
            fixture, quotaDayStart: 17 * 3600 + 1800)
        let status = try offset.quota(parties.agent.client.clientID)
        #expect((status.resetsAt - (17 * 3600 + 1800)) % 86_400 == 0)
        #expect(status.resetsAt > fixture.clock.now() && status.resetsAt <= fixture.clock.now() + 86_400)
    }

    /// Memory follows the agents charged recently: an idle, flushed spend is dropped from the
    /// ledger and read back from the store when it is needed again.
    @Test func anIdleSpendLeavesMemoryAndIsReadBackFromTheStore() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let parties = try await parties(fixture, budget: 1000)
        _ = try fixture.authority.charge(token: parties.token, amount: 600, by: parties.gateway)
        try await fixture.authority.flushCounters()
        #expect(fixture.authority.quotaLedger.entryCount == 1)
        fixture.clock.advance(by: QuotaLedger.idleSeconds)
        try await fixture.authority.flushCounters()
        #expect(fixture.authority.quotaLedger.entryCount == 0)
        let token = try await fixture.token(parties.agent, audiences: [Self.gatewayURL]).accessToken
        #expect(!(try fixture.authority.charge(token: token, amount: 401, by: parties.gateway).allowed))
        #expect(try fixture.authority.charge(token: token, amount: 400, by: parties.gateway).remaining == 0)
    }

    @Test func anAgentWithoutABudgetIsNotLimited() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let parties = try await parties(fixture, budget: nil)
        let charge = try fixture.authority.charge(token: parties.token, amount: 1_000_000_000, by: parties.gateway)
        #expect(charge.allowed && charge.remaining == nil)
        #expect(try fixture.authority.quota(parties.agent.client.clientID).budget == nil)
    }

    @Test func spendAndRateLimitTimesSurviveARestartOnceFlushed() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let parties = try await parties(fixture, budget: 1000)
        _ = try fixture.authority.charge(token: parties.token, amount: 700, by: parties.gateway)
        var limitedFields = Authsec_V1_Client()
        limitedFields.name = "Limited"
        limitedFields.agentConfig.rateLimits.requestsPerMinute = 2
        let limited = try await fixture.authority.createClient(limitedFields, by: fixture.root)
        _ = try await fixture.token(limited)
        _ = try await fixture.token(limited)
        try await fixture.authority.flushCounters()

        let restarted = Authority(fixture, quotaDayStart: 0)
        #expect(try restarted.quota(parties.agent.client.clientID).spent == 700)
        #expect(!(try restarted.charge(token: parties.token, amount: 301, by: parties.gateway).allowed))
        await expectError(.rateLimited) {
            _ = try await restarted.token(
                TokenRequest(
                    grantType: "client_credentials", scope: nil, audiences: [],
                    credentials: .basic(clientID: limited.client.clientID, secret: limited.secret!))
            ).value()
        }
        // Deleting the agent forgets its spend.
        try await restarted.deleteClient(parties.agent.client.clientID, by: fixture.root)
        #expect(try fixture.store.read { try $0.get(Keyspace.quotaSpend, parties.agent.client.clientID) } == nil)
    }
}

extension Authority {
    /// Another Authority over `fixture`'s store and clock, as after a restart.
    convenience init(_ fixture: Fixture, quotaDayStart: Int64) {
        // The fixture's store is initialized and its key opens every signing key.
        try! self.init(
            store: fixture.store, issuer: Fixture.issuer, sealingKey: fixture.sealingKey, clock: fixture.clock,
            quotaDayStart: quotaDayStart)
    }
}
