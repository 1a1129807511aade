import ClientModel
import Testing

@testable import Authority

/// `rate_limits.requests_per_minute`, decided by Authority with an injected clock.
@Suite struct RateLimitTests {
    func limitedAgent(_ fixture: Fixture, perMinute: Int64) async throws -> ClientWithSecret {
        var fields = Authsec_V1_Client()
        fields.name = "Limited"
        fields.agentConfig.agentType = "task"
        fields.agentConfig.rateLimits.requestsPerMinute = perMinute
        return try await fixture.authority.createClient(fields, by: fixture.root)
    }

    func rateLimitError(_ body: () async throws -> Void) async -> AuthorityError? {
        do {
            try await body()
            return nil
        } catch let error as AuthorityError {
            return error
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test func theRequestAfterABurstOfTheLimitIsRefusedWithWhenToRetry() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await limitedAgent(fixture, perMinute: 5)
        for _ in 0..<5 { _ = try await fixture.token(client) }
        let refused = await rateLimitError { _ = try await fixture.token(client) }
        #expect(refused?.code == .rateLimited)
        // Five a minute: one more every 12 seconds.
        #expect(refused?.retryAfter == 12)
        fixture.clock.advance(by: 11)
        #expect(await rateLimitError { _ = try await fixture.token(client) }?.retryAfter == 1)
        fixture.clock.advance(by: 1)
        _ = try await fixture.token(client)
        #expect(await rateLimitError { _ = try await fixture.token(client) }?.code == .rateLimited)
        // A full minute later the whole burst is available again.
        fixture.clock.advance(by: 60)
        for _ in 0..<5 { _ = try await fixture.token(client) }
        #expect(await rateLimitError { _ = try await fixture.token(client) }?.code == .rateLimited)
    }

    @Test func everyCallOfTheClientCountsAndOthersAreNotLimited() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await limitedAgent(fixture, perMinute: 3)
        let free = try await fixture.agent()
        let credentials = ClientCredentials.basic(clientID: client.client.clientID, secret: client.secret!)
        let token = try await fixture.token(client).accessToken
        _ = try await fixture.authority.introspect(token: token, credentials: credentials).value()
        _ = try await fixture.authority.revoke(token: "unknown", tokenTypeHint: nil, credentials: credentials).value()
        let refused = await rateLimitError {
            _ = try await fixture.authority.introspect(token: token, credentials: credentials).value()
        }
        #expect(refused?.code == .rateLimited)
        // A client without rate_limits is never limited.
        for _ in 0..<50 { _ = try await fixture.token(free) }
    }

    @Test func aWrongSecretDoesNotSpendTheClientsBudget() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await limitedAgent(fixture, perMinute: 2)
        let wrong = ClientCredentials.basic(clientID: client.client.clientID, secret: "wrong")
        for _ in 0..<5 {
            let error = await rateLimitError {
                _ = try await fixture.authority.introspect(token: "x", credentials: wrong).value()
            }
            #expect(error?.code == .invalidClient)
        }
        _ = try await fixture.token(client)
        _ = try await fixture.token(client)
    }

    @Test func stateIsBoundedAndLapsedEntriesAreDropped() {
        let limiter = RateLimiter()
        let start: Int64 = 1_800_000_000 * 1_000_000_000
        for index in 0..<10_000 { #expect(limiter.admit("client-\(index)", perMinute: 60, now: start) == nil) }
        #expect(limiter.takeChanges(now: start).count == 10_000)
        // Nothing changed since, and a minute later every entry has lapsed.
        #expect(limiter.takeChanges(now: start + 61_000_000_000).isEmpty)
        #expect(limiter.entryCount == 0)
    }
}
