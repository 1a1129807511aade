import ClientModel
import Store
import Testing

@testable import Authority

/// The audit log, client configuration history and hourly usage, over a real store and a manual clock.
@Suite struct AuditTests {
    func events(_ fixture: Fixture, client: String? = nil, type: String? = nil) throws -> [Authsec_V1_AuditEvent] {
        var events: [Authsec_V1_AuditEvent] = []
        var after: String?
        while true {
            let page = try fixture.authority.auditEvents(
                after: after, since: 0, clientID: client, type: type, pageSize: 1000)
            events += page.events
            after = page.nextAfter
            if !page.more { return events }
        }
    }

    func badSecret(_ clientID: String) -> TokenRequest {
        TokenRequest(
            grantType: "client_credentials", scope: nil, audiences: [],
            credentials: .basic(clientID: clientID, secret: "wrong"))
    }

    @Test func managementChangesAreLoggedWithActorDoorPeerAndFieldsButNoSecret() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let caller = AdminCaller(
            clientID: fixture.admin.clientID, reservedScopes: Scopes.reserved,
            context: CallContext(door: .wire, peer: "10.1.2.3", requestID: 7))
        let created = try await fixture.authority.createClient(.with { $0.name = "Logged" }, by: caller)
        let id = created.client.clientID
        _ = try await fixture.authority.updateClient(id, .with { $0.description_p = "changed" }, by: caller)
        let rotated = try await fixture.authority.rotateClientSecret(id, keepPreviousFor: 60, by: caller)
        _ = try await fixture.authority.createScope(name: "tools:run", description: "", by: caller)
        _ = try await fixture.authority.rotateKey(activateIn: 0, by: caller)
        try await fixture.authority.deleteClient(id, by: caller)

        let logged = try events(fixture)
        #expect(
            logged.map(\.type) == [
                "client.create", "client.update", "client.rotate_secret", "scope.create", "key.rotate", "client.delete",
            ])
        #expect(logged.allSatisfy { $0.actor == fixture.admin.clientID && $0.door == "wire" && $0.peer == "10.1.2.3" })
        #expect(logged.allSatisfy { $0.outcome == "ok" && $0.count == 1 })
        #expect(logged[1].clientID == id && logged[1].detail == "fields: description")
        #expect(logged[3].detail == "tools:run")
        // Ids grow in the order events were written.
        #expect(logged.map(\.id) == logged.map(\.id).sorted() && Set(logged.map(\.id)).count == logged.count)
        // Never a secret: not the client's, not the admin's.
        let stored = try fixture.store.read { try $0.scan(Keyspace.audit, limit: 100) }
        for (_, event) in stored {
            let text = "\(event)"
            #expect(!text.contains(created.secret!) && !text.contains(rotated.secret!))
            #expect(!text.contains(fixture.admin.clientSecret))
        }
    }

    @Test func userChangesAreLoggedWithTheSubAndNeverThePassword() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let password = "correct horse battery"
        let user = try await fixture.authority.createUser(
            username: "Alice", email: "", name: "", password: password, by: fixture.root)
        _ = try await fixture.authority.updateUser("alice", email: "a@example.com", name: nil, by: fixture.root)
        _ = try await fixture.authority.setUserPassword(user.sub, password: "another password", by: fixture.root)
        _ = try await fixture.authority.setUserDisabled("alice", disabled: true, by: fixture.root)
        try await fixture.authority.deleteUser("alice", by: fixture.root)
        await expectError(.notFound) { try await fixture.authority.deleteUser("alice", by: fixture.root) }
        try await fixture.authority.flushCounters()
        let logged = try events(fixture, type: "user.")
        #expect(
            logged.map { "\($0.type) \($0.outcome)" } == [
                "user.create ok", "user.update ok", "user.set_password ok", "user.disable ok", "user.delete ok",
                "user.delete not_found",
            ])
        #expect(logged.prefix(5).allSatisfy { $0.user == user.sub && $0.actor == fixture.admin.clientID })
        #expect(logged[1].detail == "fields: email" && logged[5].user == "alice")
        for event in logged { #expect(!"\(event)".contains(password) && !"\(event)".contains("another password")) }
    }

    @Test func aRefusedChangeIsLoggedWithItsErrorCodeAndChangesNothing() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let target = try await fixture.authority.createClient(.with { $0.name = "Target" }, by: fixture.root)
        let weak = AdminCaller(clientID: "weak-admin", reservedScopes: [Scopes.adminClients])
        await expectError(.accessDenied) {
            _ = try await fixture.authority.updateClient(
                target.client.clientID, .with { $0.allowedScopes = [Scopes.adminKeys] }, by: weak)
        }
        try await fixture.authority.flushCounters()
        let refused = try events(fixture, type: "client.update")
        #expect(refused.count == 1)
        #expect(refused.first?.outcome == "access_denied" && refused.first?.actor == "weak-admin")
        #expect(refused.first?.clientID == target.client.clientID)
        #expect(try fixture.authority.clientHistory(target.client.clientID).count == 1)
    }

    @Test func tokenRequestsAreAggregatedPerSecondWithFailuresAndRateLimitsApart() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let agent = try await fixture.agent()
        let id = agent.client.clientID
        for _ in 0..<5 { _ = try await fixture.token(agent) }
        for _ in 0..<3 { _ = try? await fixture.authority.token(badSecret(id)).value() }
        _ = try? await fixture.authority.token(badSecret("nobody")).value()
        fixture.clock.advance(by: 1)
        _ = try await fixture.token(agent)
        // No event is stored before the flush; after it, one per second and outcome.
        #expect(try events(fixture, type: "token.issue").isEmpty)
        try await fixture.authority.flushCounters()
        let issued = try events(fixture, client: id, type: "token.issue")
        #expect(issued.map(\.count) == [5, 1])
        #expect(issued[1].time - issued[0].time == 1000)
        let failed = try events(fixture, type: "client.authenticate")
        #expect(
            Set(failed.map { "\($0.clientID) \($0.count) \($0.outcome)" }) == [
                "\(id) 3 invalid_client", "nobody 1 invalid_client",
            ])

        // A rate-limited agent: its refusals are rate_limit.hit events and usage.
        _ = try await fixture.authority.updateClient(
            id, .with { $0.agentConfig.rateLimits.requestsPerMinute = 2 }, by: fixture.root)
        for _ in 0..<4 { _ = try? await fixture.token(agent) }
        try await fixture.authority.flushCounters()
        #expect(try events(fixture, type: "rate_limit.hit").map(\.count) == [2])
        let usage = try #require(try fixture.authority.usage(clientID: id, pageSize: 0, pageToken: nil).clients.first)
        #expect(usage.hours.count == 1)
        #expect(usage.hours[0].tokensIssued == 8 && usage.hours[0].rateLimited == 2)
    }

    @Test func filtersAndPagesReadTheLogInWriteOrder() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        var ids: [String] = []
        for index in 0..<7 {
            ids.append(
                try await fixture.authority.createClient(.with { $0.name = "C\(index)" }, by: fixture.root).client
                    .clientID)
            fixture.clock.advance(by: 10)
        }
        _ = try await fixture.authority.updateClient(ids[2], .with { $0.name = "C2b" }, by: fixture.root)

        var after: String?
        var pages: [[String]] = []
        repeat {
            let page = try fixture.authority.auditEvents(
                after: after, since: 0, clientID: nil, type: "client.", pageSize: 3)
            pages.append(page.events.map(\.type))
            after = page.nextAfter
            if !page.more { break }
        } while pages.count < 10
        #expect(pages.map(\.count) == [3, 3, 2])
        #expect(pages.last?.last == "client.update")
        // Nothing new: an empty page, the cursor kept where it was.
        let idle = try fixture.authority.auditEvents(after: after, since: 0, clientID: nil, type: nil, pageSize: 3)
        #expect(idle.events.isEmpty && !idle.more && idle.nextAfter == after)

        #expect(try events(fixture, client: ids[2]).map(\.type) == ["client.create", "client.update"])
        #expect(try events(fixture, type: "client.update").count == 1)
        #expect(try events(fixture, type: "scope.").isEmpty)
        let since = (fixture.clock.now() - 25) * 1000
        let recent = try fixture.authority.auditEvents(
            after: nil, since: since, clientID: nil, type: nil, pageSize: 100)
        #expect(recent.events.count == 3)  // C5, C6 and the update
        await expectError(.invalidRequest) {
            _ = try fixture.authority.auditEvents(
                after: String(repeating: "f", count: 65), since: 0, clientID: nil, type: nil, pageSize: 1)
        }
    }

    @Test func historyKeepsEveryVersionWithWhoAndWhen() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let created = try await fixture.authority.createClient(.with { $0.name = "V1" }, by: fixture.root)
        let id = created.client.clientID
        fixture.clock.advance(by: 5)
        _ = try await fixture.authority.updateClient(id, .with { $0.name = "V2" }, by: fixture.root)
        _ = try await fixture.authority.rotateClientSecret(id, keepPreviousFor: 0, by: fixture.root)
        fixture.clock.advance(by: 5)
        _ = try await fixture.authority.updateClient(
            id, .with { $0.agentConfig.capabilities = ["search"] }, by: fixture.root)
        let versions = try fixture.authority.clientHistory(id)
        #expect(versions.map(\.version) == [1, 2, 3])
        #expect(versions.map(\.change) == ["create", "update", "update"])
        #expect(versions.map(\.client.name) == ["V1", "V2", "V2"])
        #expect(versions[2].client.agentConfig.capabilities == ["search"])
        #expect(versions.allSatisfy { $0.actor == fixture.admin.clientID })
        #expect(versions[1].time - versions[0].time == 5000)
        await expectError(.notFound) { _ = try fixture.authority.clientHistory("no-such-client") }

        // The init admin predates history: its first update keeps what it had as version 1.
        _ = try await fixture.authority.updateClient(
            fixture.admin.clientID, .with { $0.description_p = "ops" }, by: fixture.root)
        let admin = try fixture.authority.clientHistory(fixture.admin.clientID)
        #expect(admin.map(\.change) == ["recorded", "update"])
        #expect(admin[1].client.description_p == "ops" && admin[0].client.description_p != "ops")

        // A deleted client's history stays (until the retention).
        try await fixture.authority.deleteClient(id, by: fixture.root)
        #expect(try fixture.authority.clientHistory(id).count == 3)
    }

    @Test func retentionPrunesEventsAndVersionsAndUsageAfterSevenDays() async throws {
        let fixture = try await Fixture(auditRetention: 3600)
        defer { fixture.close() }
        let agent = try await fixture.agent()
        _ = try await fixture.token(agent)
        try await fixture.authority.flushCounters()
        #expect(try !events(fixture).isEmpty)
        fixture.clock.advance(by: 3601)
        try await fixture.authority.purgeExpired()
        #expect(try events(fixture).isEmpty)
        #expect(try fixture.store.read { try $0.count(Keyspace.clientHistory) } == 0)
        #expect(try fixture.authority.usage(clientID: nil, pageSize: 0, pageToken: nil).clients.count == 1)
        fixture.clock.advance(by: 7 * 86_400)
        try await fixture.authority.purgeExpired()
        #expect(try fixture.store.read { try $0.count(Keyspace.usage) } == 0)
    }

    @Test func withTheAuditLogOffNothingIsLoggedButUsageIsCounted() async throws {
        let fixture = try await Fixture(auditRetention: 0)
        defer { fixture.close() }
        let agent = try await fixture.agent()
        _ = try await fixture.token(agent)
        _ = try? await fixture.authority.token(badSecret(agent.client.clientID)).value()
        try await fixture.authority.flushCounters()
        #expect(try events(fixture).isEmpty)
        #expect(try fixture.store.read { try $0.count(Keyspace.clientHistory) } == 0)
        let usage = try fixture.authority.usage(clientID: agent.client.clientID, pageSize: 0, pageToken: nil)
        #expect(usage.clients.first?.hours.first?.tokensIssued == 1)
    }

    @Test func usageCountsByHourAndPagesAcrossClients() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let clock = fixture.clock
        clock.advance(by: 3600 - clock.now() % 3600 - 2)  // two seconds before an hour begins
        var agents: [ClientWithSecret] = []
        for _ in 0..<3 { agents.append(try await fixture.agent()) }
        _ = try await fixture.token(agents[0])
        let token = try await fixture.token(agents[1]).accessToken
        _ = try await fixture.authority.introspect(
            token: token, credentials: .basic(clientID: agents[1].client.clientID, secret: agents[1].secret!)
        ).value()
        clock.advance(by: 3)  // the next hour
        _ = try await fixture.token(agents[0])
        _ = try await fixture.token(agents[0])
        try await fixture.authority.flushCounters()

        let first = try fixture.authority.usage(clientID: agents[0].client.clientID, pageSize: 0, pageToken: nil)
        let hours = try #require(first.clients.first?.hours)
        #expect(hours.map(\.tokensIssued) == [1, 2])
        #expect(hours[1].hour - hours[0].hour == 3600 && hours[1].hour % 3600 == 0)
        let second = try fixture.authority.usage(clientID: agents[1].client.clientID, pageSize: 0, pageToken: nil)
        #expect(second.clients.first?.hours.first?.introspections == 1)

        var seen: [String] = []
        var pageToken: String?
        repeat {
            let page = try fixture.authority.usage(clientID: nil, pageSize: 1, pageToken: pageToken)
            seen += page.clients.map(\.clientID)
            pageToken = page.nextPageToken
        } while pageToken != nil && seen.count < 10
        #expect(Set(seen) == Set([agents[0].client.clientID, agents[1].client.clientID]))
        #expect(seen.count == Set(seen).count)
        #expect(
            try fixture.authority.usage(clientID: agents[2].client.clientID, pageSize: 0, pageToken: nil)
                .clients.first?.hours.isEmpty == true)
    }

    @Test func aFloodOfDistinctFailuresIsBoundedAndCountedAsDropped() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let total = ActivityRecorder.shardCount * ActivityRecorder.maxEntriesPerShard + 5000
        for index in 0..<total {
            _ = try? await fixture.authority.token(badSecret("attacker-\(index)")).value()
        }
        try await fixture.authority.flushCounters()
        let dropped = try events(fixture, type: "audit.dropped")
        let kept = try fixture.store.read { try $0.count(Keyspace.audit) } - dropped.count
        #expect(kept <= ActivityRecorder.shardCount * ActivityRecorder.maxEntriesPerShard)
        #expect(dropped.count == 1 && Int(dropped[0].count) + kept == total)
    }
}
