import Foundation
import NIOCore
import NIOPosix
import Testing
import Wire

/// The built binary as an admin runs it.
@Suite(.serialized, .timeLimit(.minutes(3))) struct CLITests {
    func environment(_ server: ServerProcess) -> [String: String] {
        [
            "AUTHSEC_ADDRESS": "127.0.0.1:\(server.wirePort)", "AUTHSEC_CLIENT_ID": server.adminID,
            "AUTHSEC_CLIENT_SECRET": server.adminSecret,
        ]
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func initPrintsCredentialsOnceAndRefusesToRunTwice() throws {
        let directory = ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (status, output, _) = try runCLI(["init", "--data", directory, "--json"])
        #expect(status == 0)
        let credentials = try json(output)
        #expect((credentials["client_id"] as? String)?.isEmpty == false)
        #expect(((credentials["client_secret"] as? String)?.count ?? 0) >= 43)
        let (again, _, error) = try runCLI(["init", "--data", directory, "--json"])
        #expect(again == 1)
        #expect(error.contains("already initialized"))
        // serve on an initialized directory prints no credentials.
        let server = try ServerProcess(directory: directory, expectCredentials: false)
        defer { server.stop() }
        #expect(!server.printed.contains("client_secret"))
    }

    @Test func aSecondServerOnTheSameDirectoryIsRefused() throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let (status, _, error) = try runCLI([
            "serve", "--data", server.directory, "--http", "127.0.0.1:0", "--wire", "127.0.0.1:0",
        ])
        #expect(status == 1)
        #expect(error.contains("in use by another authsec process"))
    }

    @Test func wildcardBindingNeedsAnIssuer() throws {
        let directory = ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (status, _, error) = try runCLI([
            "serve", "--data", directory, "--http", "0.0.0.0:0", "--wire", "127.0.0.1:0",
        ])
        #expect(status == 1)
        #expect(error.contains("--issuer"))
    }

    @Test func aBusyAddressIsNamedAndOneWireThreadServes() throws {
        let server = try ServerProcess(arguments: ["--wire-threads", "1"])
        defer { server.stop(); server.removeData() }
        // The one-thread wire door answers.
        #expect(try runCLI(["token"], environment: environment(server)).0 == 0)
        let busy = String(server.httpURL.dropFirst("http://".count))
        let directory = ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (status, _, error) = try runCLI(["serve", "--data", directory, "--http", busy, "--wire", "127.0.0.1:0"])
        #expect(status == 1)
        #expect(error.contains("http: cannot listen on \(busy)"), "\(error)")
        let (wireStatus, _, wireError) = try runCLI([
            "serve", "--data", directory, "--http", "127.0.0.1:0", "--wire", "127.0.0.1:\(server.wirePort)",
        ])
        #expect(wireStatus == 1)
        #expect(wireError.contains("wire: cannot listen on 127.0.0.1:\(server.wirePort)"), "\(wireError)")
        #expect(try runCLI(["serve", "--data", directory, "--wire-threads", "0"]).0 == 64)
    }

    /// A delegated admin (admin:clients only) cannot give or take what it does not hold, and a
    /// deleted admin's token stops at once at the management door.
    @Test func delegatedAdminsCannotEscalate() async throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let (_, created, _) = try runCLI(
            ["clients", "create", "--name", "Delegate", "--scope", "admin:clients", "--json"],
            environment: environment(server))
        let delegate = try json(created)
        let delegateID = try #require(delegate["client_id"] as? String)
        let delegateSecret = try #require(delegate["client_secret"] as? String)
        var asDelegate = environment(server)
        asDelegate["AUTHSEC_CLIENT_ID"] = delegateID
        asDelegate["AUTHSEC_CLIENT_SECRET"] = delegateSecret
        for arguments in [
            ["clients", "create", "--name", "Keys", "--scope", "admin:keys"],
            ["clients", "update", delegateID, "--scope", "admin:clients admin:scopes"],
            ["clients", "rotate-secret", server.adminID],
            ["clients", "delete", server.adminID],
        ] {
            let (status, _, error) = try runCLI(arguments, environment: asDelegate)
            #expect(status == 1, "\(arguments)")
            #expect(error.contains("PERMISSION_DENIED access_denied"), "\(arguments): \(error)")
        }
        // Its management token stops working the moment it is deleted.
        let client = try await server.connect()
        defer { Task { await client.close() } }
        let basic = "Basic " + Data("\(delegateID):\(delegateSecret)".utf8).base64EncodedString()
        let token = try await client.call(.managementToken(authorization: basic)).token.accessToken
        var list = Authsec_V1_Request(authorization: "Bearer " + token, call: .listClients(.init()))
        #expect(try await client.call(list).status.code == .ok)
        #expect(try runCLI(["clients", "delete", delegateID], environment: environment(server)).0 == 0)
        list.id = 2
        let refused = try await client.call(list).status
        #expect(refused.code == .unauthenticated && refused.error == "invalid_token", "\(refused)")
    }

    @Test func aDisabledClientCannotGetTokensUntilEnabled() throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let (_, created, _) = try runCLI(
            ["clients", "create", "--name", "Pausable", "--json"], environment: environment(server))
        let client = try json(created)
        let id = try #require(client["client_id"] as? String)
        let secret = try #require(client["client_secret"] as? String)
        let asClient = ["--client-id", id, "--client-secret", secret]
        #expect(try runCLI(["token"] + asClient, environment: environment(server)).0 == 0)
        let (status, output, _) = try runCLI(["clients", "disable", id, "--json"], environment: environment(server))
        #expect(status == 0)
        #expect(try json(output)["disabled"] as? Bool == true)
        let (refused, _, errors) = try runCLI(["token"] + asClient, environment: environment(server))
        #expect(refused == 1 && errors.contains("invalid_client"), "\(errors)")
        #expect(try runCLI(["clients", "enable", id], environment: environment(server)).0 == 0)
        #expect(try runCLI(["token"] + asClient, environment: environment(server)).0 == 0)
    }

    /// The product page's variables alone: AUTHSEC_DOMAIN (here the issuer URL) finds the wire
    /// door through the metadata.
    @Test func theDomainAloneFindsTheWireDoor() throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let environment = [
            "AUTHSEC_DOMAIN": server.httpURL, "AUTHSEC_CLIENT_ID": server.adminID,
            "AUTHSEC_CLIENT_SECRET": server.adminSecret,
        ]
        let (status, output, errors) = try runCLI(["scopes", "list", "--json"], environment: environment)
        #expect(status == 0, "\(errors)")
        #expect(output.contains("admin:clients"), "\(output)")
        // A domain that serves no metadata is a clear error, not a silent fallback to 127.0.0.1:7070.
        let dead = ["AUTHSEC_DOMAIN": "http://127.0.0.1:9"].merging(environment) { first, _ in first }
        let (deadStatus, _, deadErrors) = try runCLI(["scopes", "list"], environment: dead)
        #expect(deadStatus == 1)
        #expect(deadErrors.contains("AUTHSEC_DOMAIN http://127.0.0.1:9"), "\(deadErrors)")
    }

    @Test func sigtermShutsDownCleanly() throws {
        let server = try ServerProcess()
        defer { server.removeData() }
        #expect(server.stop() == 0)
        Thread.sleep(forTimeInterval: 0.2)
        #expect(server.printed.contains("shut down cleanly"))
    }

    /// The README quick start: seed scopes, the seed's client JSON, a token, introspection, rotation.
    @Test func quickStartFromTheSeedPage() throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let env = environment(server)
        for scope in ["ai:access", "ai:conversations", "mcp:context:read"] {
            let (status, output, error) = try runCLI(
                ["scopes", "create", scope, "--description", "seed scope \(scope)"], environment: env)
            #expect(status == 0, "\(error)")
            #expect(output.contains(scope))
        }
        let file = server.directory + "-client.json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try """
        {
        "name": "My AI Assistant",
        "description": "An intelligent conversational AI agent",
        "app_type": "ai_agent",
        "grant_types": ["client_credentials", "authorization_code"],
        "token_endpoint_auth_method": "client_secret_post",
        "callbacks": ["https://myapp.com/callback"],
        "web_origins": ["https://myapp.com"],
        "allowed_scopes": ["openid", "profile", "ai:access"]
        }
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let (created, createdOutput, createError) = try runCLI(
            ["clients", "create", "--file", file, "--json"], environment: env)
        #expect(created == 0, "\(createError)")
        let client = try json(createdOutput)
        let id = try #require(client["client_id"] as? String)
        let secret = try #require(client["client_secret"] as? String)
        #expect(client["app_type"] as? String == "ai_agent")
        #expect(client["access_token_lifetime"] as? Int == 3600)

        let (tokenStatus, token, _) = try runCLI(
            ["token", "--client-id", id, "--client-secret", secret, "--scope", "ai:access"], environment: env)
        #expect(tokenStatus == 0)
        let accessToken = token.trimmingCharacters(in: .whitespacesAndNewlines)
        let (_, introspection, _) = try runCLI(["introspect", accessToken, "--json"], environment: env)
        let claims = try json(introspection)
        #expect(claims["active"] as? Bool == true)
        #expect(claims["scope"] as? String == "ai:access")
        #expect(claims["client_id"] as? String == id)

        let (got, shown, _) = try runCLI(["clients", "get", id, "--json"], environment: env)
        #expect(got == 0)
        #expect(try json(shown)["client_secret"] == nil)

        let (updated, updatedOutput, _) = try runCLI(
            ["clients", "update", id, "--description", "renamed", "--json"], environment: env)
        #expect(updated == 0)
        let afterUpdate = try json(updatedOutput)
        #expect(afterUpdate["description"] as? String == "renamed")
        #expect(afterUpdate["name"] as? String == "My AI Assistant")

        let (rotated, rotatedOutput, _) = try runCLI(
            ["clients", "rotate-secret", id, "--keep-previous-for", "1h", "--json"], environment: env)
        #expect(rotated == 0)
        let newSecret = try #require(try json(rotatedOutput)["client_secret"] as? String)
        #expect(newSecret != secret)
        #expect(try runCLI(["token", "--client-id", id, "--client-secret", secret], environment: env).0 == 0)
        #expect(try runCLI(["token", "--client-id", id, "--client-secret", newSecret], environment: env).0 == 0)
        let (_, _, _) = try runCLI(["clients", "rotate-secret", id], environment: env)
        let (refused, _, refusal) = try runCLI(
            ["token", "--client-id", id, "--client-secret", newSecret], environment: env)
        #expect(refused == 1)
        #expect(refusal.contains("invalid_client"))

        let (revoked, _, _) = try runCLI(
            ["revoke", accessToken, "--client-id", id, "--client-secret", secret], environment: env)
        #expect(revoked == 1)  // that secret no longer works: rotation without overlap ended it
        let (adminRevoke, _, _) = try runCLI(["revoke", accessToken], environment: env)
        #expect(adminRevoke == 0)
        let (_, inactive, _) = try runCLI(["introspect", accessToken, "--json"], environment: env)
        #expect(try json(inactive)["active"] as? Bool == false)

        let (listed, listing, _) = try runCLI(["clients", "list"], environment: env)
        #expect(listed == 0)
        #expect(listing.contains("My AI Assistant"))
        let (deleted, deletion, _) = try runCLI(["clients", "delete", id, "--json"], environment: env)
        #expect(deleted == 0)
        #expect(try json(deletion)["deleted"] as? Bool == true)
        #expect(try json(deletion)["client_id"] as? String == id)
        let (missing, _, missingError) = try runCLI(["clients", "get", id], environment: env)
        #expect(missing == 1)
        #expect(missingError.contains("NOT_FOUND"))
        // The admin cannot delete itself, and still works afterwards.
        let (selfDelete, _, selfDeleteError) = try runCLI(["clients", "delete", server.adminID], environment: env)
        #expect(selfDelete == 1)
        #expect(selfDeleteError.contains("FAILED_PRECONDITION"), "\(selfDeleteError)")
        #expect(try runCLI(["clients", "list"], environment: env).0 == 0)
        // A duration with an unknown unit is a usage error, not seconds.
        #expect(
            try runCLI(["clients", "rotate-secret", server.adminID, "--keep-previous-for", "1x"], environment: env).0
                == 64)
    }

    /// What `clients get --json` prints, given back as `--file`, registers an equal client, and
    /// without a warning: the printed form is the file form.
    @Test func getJSONFedBackAsAFileCreatesAnEqualClient() throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let env = environment(server)
        #expect(try runCLI(["scopes", "create", "ai:access"], environment: env).0 == 0)
        let file = server.directory + "-client.json"
        let again = server.directory + "-again.json"
        defer {
            try? FileManager.default.removeItem(atPath: file)
            try? FileManager.default.removeItem(atPath: again)
        }
        try #"""
        {"client_name": "Round trip", "type": "web", "scope": "openid ai:access",
         "redirect_uris": ["https://app.example.com/cb"], "webOrigins": ["https://app.example.com"],
         "allowed_audiences": ["https://api.example.com"], "resources": ["https://app.example.com/api"],
         "token_config": {"access_token_lifetime": 600, "rotate_refresh_token": false}, "require_par": true,
         "agentConfig": {"agentType": "task", "capabilities": ["search"], "context_retention": 3600,
                         "rateLimits": {"requestsPerMinute": 60, "tokensPerDay": 1000}},
         "mcp_config": {"protocol_version": "2025-06-18", "endpoints": {"tools": "https://mcp.example.com/tools"},
                        "security": {"require_auth": false, "allowed_origins": ["https://app.example.com"]}}}
        """#.write(toFile: file, atomically: true, encoding: .utf8)
        let (created, createdOutput, createError) = try runCLI(
            ["clients", "create", "--file", file, "--json"], environment: env)
        #expect(created == 0 && createError.isEmpty, "\(createError)")
        let id = try #require(try json(createdOutput)["client_id"] as? String)
        let (_, shown, _) = try runCLI(["clients", "get", id, "--json"], environment: env)
        try shown.write(toFile: again, atomically: true, encoding: .utf8)
        let (recreated, recreatedOutput, recreateError) = try runCLI(
            ["clients", "create", "--file", again, "--json"], environment: env)
        #expect(recreated == 0 && recreateError.isEmpty, "\(recreateError)")
        let copyID = try #require(try json(recreatedOutput)["client_id"] as? String)
        #expect(copyID != id)
        let (_, shownCopy, _) = try runCLI(["clients", "get", copyID, "--json"], environment: env)
        var original = try json(shown)
        var copy = try json(shownCopy)
        for key in ["client_id", "created_at", "updated_at"] {
            #expect(original.removeValue(forKey: key) != nil && copy.removeValue(forKey: key) != nil, "\(key)")
        }
        #expect(NSDictionary(dictionary: original) == NSDictionary(dictionary: copy), "\(shown)\n\(shownCopy)")
        #expect(original["rotate_refresh_token"] as? Bool == false && original["access_token_lifetime"] as? Int == 600)
        #expect(original["callbacks"] as? [String] == ["https://app.example.com/cb"])
        #expect((original["mcp_config"] as? [String: Any]).map { "\($0)" }?.contains("require_auth") == true)
    }

    /// A client file's type error, two spellings of one key and unknown keys, named as the file wrote them.
    @Test func clientFileErrorsNameTheField() throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let file = server.directory + "-client.json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let cases: [(String, Int32, String)] = [
            (
                #"{"name": "Bad", "aiAgentConfig": {"maxContextSize": "big"}}"#, 1,
                "error: FILE: agent_config.max_context_size: must be a whole number"
            ),
            (
                #"{"name": "Bad", "redirect_uris": [], "callbacks": []}"#, 1,
                "error: FILE: callbacks: and 'redirect_uris' are two spellings of one field; give one"
            ),
            (#"{"name": "Fine", "agent_config": {"mood": "calm"}}"#, 0, "ignoring unknown field 'agent_config.mood'"),
            (#"{"name": "Fine", "surprise": 1}"#, 0, "warning: FILE: ignoring unknown field 'surprise'"),
        ]
        for (text, status, message) in cases {
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let (exit, _, errors) = try runCLI(["clients", "create", "--file", file], environment: environment(server))
            #expect(exit == status, "\(text): \(errors)")
            #expect(errors.contains(message.replacingOccurrences(of: "FILE", with: file)), "\(errors)")
        }
    }

    @Test func badClientInputFailsWithTheFieldNamed() throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let env = environment(server)
        let (status, _, error) = try runCLI(
            ["clients", "create", "--name", "Bad", "--callback", "http://example.com/cb"], environment: env)
        #expect(status == 1)
        #expect(error.contains("INVALID_ARGUMENT") && error.contains("callbacks"))
        let (noCreds, _, noCredsError) = try runCLI(["clients", "list", "--address", "127.0.0.1:\(server.wirePort)"])
        #expect(noCreds == 1)
        #expect(noCredsError.contains("credentials"))
        let (wrongAddress, _, wrongError) = try runCLI(
            ["clients", "list", "--address", "127.0.0.1:1"], environment: env)
        #expect(wrongAddress == 1)
        #expect(wrongError.contains("cannot connect"))
    }

    /// A listener that accepts but never answers must not hang the CLI.
    @Test func aServerThatNeverAnswersTimesOut() async throws {
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { silent.close(promise: nil) }
        let port = try #require(silent.localAddress?.port)
        let started = Date()
        let (status, _, error) = try runCLI(
            ["clients", "list", "--address", "127.0.0.1:\(port)", "--timeout", "1s"],
            environment: ["AUTHSEC_CLIENT_ID": "someone", "AUTHSEC_CLIENT_SECRET": "secret"], timeout: 20)
        #expect(status == 1)
        #expect(error.contains("no response in time"), "\(error)")
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test func keysRotateAndList() throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let env = environment(server)
        let (status, output, _) = try runCLI(["keys", "rotate", "--activate-in", "10m", "--json"], environment: env)
        #expect(status == 0)
        let keys = try #require(try json(output)["keys"] as? [[String: Any]])
        #expect(keys.count == 2)
        #expect(keys.filter { $0["active"] as? Bool == true }.count == 1)
    }

    /// Every client whose creation was acknowledged survives a kill -9 of the process (the page
    /// cache survives it too, so this says nothing of the disk: `DurabilityTests` does).
    @Test func acknowledgedWritesSurviveKillDashNine() async throws {
        let server = try ServerProcess()
        defer { server.removeData() }
        let client = try await server.connect()
        let bearer = try await server.adminBearer(client)
        let acknowledged = Acknowledged()
        let writers = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<16 {
                    group.addTask {
                        var index = 0
                        while true {
                            var request = Authsec_V1_Request()
                            request.authorization = bearer
                            var call = Authsec_V1_CreateClientRequest()
                            call.client.name = "crash-\(worker)-\(index)"
                            request.call = .createClient(call)
                            guard let response = try? await client.call(request), response.status.code == .ok else {
                                return
                            }
                            acknowledged.add(response.client.client.clientID)
                            index += 1
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while acknowledged.count < 300, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        server.kill9()
        _ = try? await writers.value
        await client.close()
        let ids = acknowledged.all
        let restarted = try ServerProcess(directory: server.directory, expectCredentials: false)
        defer { restarted.stop() }
        let admin = try await restarted.connect()
        defer { Task { await admin.close() } }
        var request = Authsec_V1_Request()
        request.authorization = try await server.adminBearer(admin)  // same admin, restarted server
        var stored = Set<String>()
        var pageToken = ""
        repeat {
            var list = Authsec_V1_ListClientsRequest()
            list.pageSize = 500
            list.pageToken = pageToken
            request.call = .listClients(list)
            let page = try await admin.call(request).clients
            stored.formUnion(page.clients.map(\.clientID))
            pageToken = page.nextPageToken
        } while !pageToken.isEmpty
        #expect(ids.count >= 300)
        #expect(ids.isSubset(of: stored), "\(ids.subtracting(stored).count) acknowledged clients were lost")
    }
}

final class Acknowledged: @unchecked Sendable {
    // Safe: every access holds `lock`.
    private let lock = NSLock()
    private var ids = Set<String>()

    func add(_ id: String) {
        lock.lock()
        ids.insert(id)
        lock.unlock()
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return ids.count
    }

    var all: Set<String> {
        lock.lock()
        defer { lock.unlock() }
        return ids
    }
}
