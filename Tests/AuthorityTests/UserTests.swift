import Foundation
import Store
import Synchronization
import Testing

@testable import Authority

/// Users in the domain: the sign-in check, and the rules no door can bend.
@Suite struct UserTests {
    /// bcrypt at cost 4 that counts its checks, and the checks made with no hash (dummy ones).
    final class CountingHasher: PasswordHasher {
        let bcrypt = BcryptPasswordHasher(cost: 4)
        let counts = Mutex((checks: 0, dummies: 0))

        func hash(_ password: String) async throws -> String { try await bcrypt.hash(password) }

        func verify(_ password: String, against hash: String?) async throws -> Bool {
            counts.withLock {
                $0.checks += 1
                if hash == nil { $0.dummies += 1 }
            }
            return try await bcrypt.verify(password, against: hash)
        }
    }

    @Test func verifyPasswordAnswersOneErrorForEveryFailure() async throws {
        let hasher = CountingHasher()
        let fixture = try await Fixture(passwordHasher: hasher)
        defer { fixture.close() }
        let authority = fixture.authority
        let created = try await authority.createUser(
            username: "Alice", email: "alice@example.com", name: "Alice", password: "s3cret pass", by: fixture.root)

        // Right password, with the username in any case.
        for username in ["Alice", "alice", "ALICE"] {
            let user = try await authority.verifyPassword(username: username, password: "s3cret pass")
            #expect(user == created)
        }
        // Signing in by sub is not a thing: subs are not usernames.
        let failures: [(String, String)] = [
            ("Alice", "s3cret pasS"),  // wrong password
            ("Alice", "s3cret pass\0tail"),  // what bcrypt would cut at the NUL
            ("Alice", "s3cret pass" + String(repeating: "x", count: 62)),  // past 72 bytes
            ("bob", "s3cret pass"),  // unknown user
            ("", "s3cret pass"),
            (String(repeating: "a", count: 600), "s3cret pass"),
            (created.sub, "s3cret pass"),
        ]
        for (username, password) in failures {
            await expectInvalidCredentials {
                _ = try await authority.verifyPassword(username: username, password: password)
            }
        }
        // Disabled: the same answer, though the password is right; enabled again, it works.
        _ = try await authority.setUserDisabled("alice", disabled: true, by: fixture.root)
        await expectInvalidCredentials {
            _ = try await authority.verifyPassword(username: "alice", password: "s3cret pass")
        }
        _ = try await authority.setUserDisabled(created.sub, disabled: false, by: fixture.root)
        #expect(try await authority.verifyPassword(username: "alice", password: "s3cret pass") == created)

        // Every attempt cost one bcrypt check; those without a usable stored hash a dummy one.
        let counts = hasher.counts.withLock { $0 }
        #expect(counts.checks == 3 + failures.count + 2)
        #expect(counts.dummies == 6)  // the NUL, the 73+ bytes, bob, "", the 600 a's, the sub
    }

    @Test func aNewPasswordReplacesTheOld() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let authority = fixture.authority
        _ = try await authority.createUser(
            username: "carol", email: "", name: "", password: "first password", by: fixture.root)
        _ = try await authority.setUserPassword("carol", password: "second password", by: fixture.root)
        await expectInvalidCredentials {
            _ = try await authority.verifyPassword(username: "carol", password: "first password")
        }
        #expect(try await authority.verifyPassword(username: "carol", password: "second password").username == "carol")
        // The stored form is a bcrypt hash, never the password.
        let record = try #require(
            try fixture.store.read { txn in
                try txn.get(Keyspace.usernames, "carol").flatMap { try txn.get(Keyspace.users, $0.sub) }
            })
        #expect(record.passwordHash.hasPrefix("$2b$04$") && !record.passwordHash.contains("second"))
    }

    @Test func theDefaultCostIsEleven() {
        #expect(BcryptPasswordHasher().cost == 11)
        #expect(BcryptPasswordHasher.defaultCost == 11)
    }

    /// Two creations of one name in different cases at once: exactly one wins.
    @Test func concurrentCreationsOfOneNameLeaveOneUser() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let names = ["dora", "Dora", "DORA", "doRA", "DorA", "dOrA"]
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for name in names {
                group.addTask {
                    (try? await fixture.authority.createUser(
                        username: name, email: "", name: "", password: "password1", by: fixture.root)) != nil
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        #expect(try fixture.store.read { try $0.count(Keyspace.users) } == 1)
        #expect(try fixture.store.read { try $0.count(Keyspace.usernames) } == 1)
    }
}

func expectInvalidCredentials(
    _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
) async {
    do {
        try await body()
        Issue.record("expected invalid credentials, got success", sourceLocation: sourceLocation)
    } catch let error as AuthorityError {
        #expect(
            error.code == .invalidGrant && error.description == AuthorityError.invalidCredentials.description,
            "\(error.description)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected invalid credentials, got \(error)", sourceLocation: sourceLocation)
    }
}
