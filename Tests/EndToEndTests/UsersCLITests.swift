import Foundation
import Testing

/// `authsec users …` as an admin runs it, against the real server.
@Suite(.serialized, .timeLimit(.minutes(3))) struct UsersCLITests {
    func environment(_ server: ServerProcess) -> [String: String] {
        [
            "AUTHSEC_ADDRESS": "127.0.0.1:\(server.wirePort)", "AUTHSEC_CLIENT_ID": server.adminID,
            "AUTHSEC_CLIENT_SECRET": server.adminSecret,
        ]
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    @Test func everyUsersCommand() throws {
        let server = try ServerProcess()
        defer { server.stop(); server.removeData() }
        let env = environment(server)
        func run(_ arguments: [String], input: String? = nil) throws -> (Int32, String, String) {
            try runCLI(["users"] + arguments, environment: env, input: input)
        }

        // create: the password from standard input, without its newline; --json prints the sub.
        let (status, output, error) = try run(
            ["create", "Ada", "--email", "ada@example.com", "--name", "Ada L", "--password-stdin", "--json"],
            input: "correct horse\n")
        #expect(status == 0, "\(error)")
        let ada = try json(output)
        let sub = try #require(ada["sub"] as? String)
        #expect(sub.hasPrefix("u_"))
        #expect(ada["username"] as? String == "Ada" && ada["email"] as? String == "ada@example.com")
        #expect(ada["name"] as? String == "Ada L" && ada["disabled"] as? Bool == false)
        #expect(ada["password"] == nil && ada["password_hash"] == nil && !output.contains("$2b$"))

        // get by username in another case, and by sub.
        for name in ["ADA", sub] {
            let (got, text, _) = try run(["get", name, "--json"])
            #expect(got == 0, "\(name)")
            #expect(try json(text)["sub"] as? String == sub, "\(name)")
        }
        let (_, table, _) = try run(["get", "ada"])
        #expect(table.contains("FIELD") && table.contains(sub) && table.contains("ada@example.com"))

        // A taken name in another case.
        let (taken, _, takenError) = try run(["create", "aDa", "--password-stdin"], input: "another one\n")
        #expect(taken == 1 && takenError.contains("ALREADY_EXISTS already_exists: username:"), "\(takenError)")

        // The password's newline is not part of it: 7 characters and a newline are too short...
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authsec-pw-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let short = directory.appendingPathComponent("short").path
        try "1234567\n".write(toFile: short, atomically: true, encoding: .utf8)
        let (refused, _, refusedError) = try run(["set-password", "ada", "--password-file", short])
        #expect(refused == 1 && refusedError.contains("INVALID_ARGUMENT invalid_request: password:"), "\(refusedError)")
        // ... and 72 bytes and a CRLF are within bcrypt's limit.
        let long = directory.appendingPathComponent("long").path
        try (String(repeating: "p", count: 72) + "\r\n").write(toFile: long, atomically: true, encoding: .utf8)
        let (changed, changedText, changedError) = try run(["set-password", sub, "--password-file", long, "--json"])
        #expect(changed == 0, "\(changedError)")
        #expect(try json(changedText)["sub"] as? String == sub)
        // Exactly one password source.
        #expect(try run(["set-password", "ada"]).0 == 64)
        #expect(try run(["set-password", "ada", "--password-stdin", "--password-file", long], input: "x\n").0 == 64)
        #expect(try run(["create", "nopassword"]).0 == 64)

        // update, disable, enable.
        let (_, updated, _) = try run(["update", "ada", "--name", "Ada Lovelace", "--email", "", "--json"])
        #expect(try json(updated)["name"] as? String == "Ada Lovelace")
        #expect(try json(updated)["email"] as? String == "")
        #expect(try run(["update", "ada"]).0 == 64)
        let (_, disabled, _) = try run(["disable", "ada", "--json"])
        #expect(try json(disabled)["disabled"] as? Bool == true)
        let (_, enabled, _) = try run(["enable", sub, "--json"])
        #expect(try json(enabled)["disabled"] as? Bool == false)

        // list, as JSON and as a table.
        #expect(try run(["create", "bob", "--password-stdin"], input: "bob's password").0 == 0)
        let (_, listed, _) = try run(["list", "--json"])
        let users = try #require(try json(listed)["users"] as? [[String: Any]])
        #expect(users.compactMap { $0["username"] as? String } == ["Ada", "bob"])
        let (_, listTable, _) = try run(["list", "--page-size", "1"])
        #expect(listTable.contains("USERNAME") && listTable.contains("Ada") && listTable.contains("next page:"))
        let (_, everyPage, _) = try run(["list", "--page-size", "1", "--all", "--json"])
        let all = try #require(try json(everyPage)["users"] as? [[String: Any]])
        #expect(all.compactMap { $0["username"] as? String } == ["Ada", "bob"])
        #expect(try json(everyPage)["next_page_token"] == nil)
        #expect(try run(["list", "--page-size", "0"]).0 == 64)

        // delete; then it is gone.
        let (deleted, deletedText, _) = try run(["delete", "ADA"])
        #expect(deleted == 0 && deletedText.contains("deleted user ADA"))
        let (missing, _, missingError) = try run(["get", sub])
        #expect(missing == 1 && missingError.contains("NOT_FOUND"), "\(missingError)")
    }
}
