import Authority
import Foundation
import Testing
import Wire

/// Keys at rest through the real binary: the master key file, its errors, and the migration that
/// makes it for an older data directory.
@Suite(.serialized, .timeLimit(.minutes(3))) struct MasterKeyTests {
    /// `authsec serve` expected to fail at start; returns (exit status, stdout, stderr).
    func serveFailing(_ directory: String, _ arguments: [String] = []) throws -> (Int32, String, String) {
        try runCLI(
            ["serve", "--data", directory, "--http", "127.0.0.1:0", "--wire", "127.0.0.1:0"] + arguments,
            timeout: 30)
    }

    func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    /// Whether `token` is active, asked of `server` by `authorization`'s client.
    func isActive(_ token: String, at server: ServerProcess, authorization: String) async throws -> Bool {
        let client = try await server.connect()
        defer { Task { await client.close() } }
        var request = Authsec_V1_Request()
        request.authorization = authorization
        var call = Authsec_V1_IntrospectRequest()
        call.token = token
        request.call = .introspect(call)
        return try await client.call(request).introspect.active
    }

    func token(at server: ServerProcess, authorization: String) async throws -> String {
        let client = try await server.connect()
        defer { Task { await client.close() } }
        let response = try await client.call(.clientCredentials(authorization: authorization))
        #expect(response.status.code == .ok, "\(response.status)")
        return response.token.accessToken
    }

    /// Writes a new master key to a new file in its own temporary directory.
    func newKeyFile() throws -> (path: String, key: SealingKey) {
        let directory = ServerProcess.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/key"
        let key = SealingKey.random()
        #expect(
            FileManager.default.createFile(
                atPath: path, contents: Data(key.fileText.utf8), attributes: [.posixPermissions: 0o600]))
        return (path, key)
    }

    /// Port 0 gives every start another issuer, which would make earlier tokens inactive.
    static let issuer = ["--issuer", "http://authsec.test"]

    @Test func serveCreatesTheMasterKey0600AndOpensWithItAfterARestart() async throws {
        let server = try ServerProcess(arguments: Self.issuer)
        defer { server.stop(); server.removeData() }
        let path = server.directory + "/master.key"
        #expect(server.printed.contains("created master key \(path)"))
        #expect(try mode(path) == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("authsec-master-key v1\n"))
        let token = try await token(at: server, authorization: server.basicAdmin)
        #expect(server.stop() == 0)
        let restarted = try ServerProcess(directory: server.directory, arguments: Self.issuer, expectCredentials: false)
        defer { restarted.stop() }
        #expect(!restarted.printed.contains("created master key"))
        #expect(try await isActive(token, at: restarted, authorization: server.basicAdmin))
        _ = try await self.token(at: restarted, authorization: server.basicAdmin)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text)
    }

    @Test func aCopyOfDataMdbAloneOpensNothing() async throws {
        let server = try ServerProcess(arguments: Self.issuer)
        defer { server.stop(); server.removeData() }
        let token = try await token(at: server, authorization: server.basicAdmin)
        #expect(server.stop() == 0)
        let copy = ServerProcess.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try FileManager.default.copyItem(atPath: server.directory + "/data.mdb", toPath: copy + "/data.mdb")
        let (status, output, error) = try serveFailing(copy)
        #expect(status == 1)
        #expect(error.contains("master key \(copy)/master.key is missing"), "\(error)")
        #expect(!output.contains("listening"))
        // No new master key was made for a store whose keys are sealed.
        #expect(!FileManager.default.fileExists(atPath: copy + "/master.key"))
        // Backed up together, data.mdb and master.key open again.
        let restored = try ServerProcess(
            directory: copy, arguments: ["--master-key-file", server.directory + "/master.key"] + Self.issuer,
            expectCredentials: false)
        defer { restored.stop() }
        #expect(try await isActive(token, at: restored, authorization: server.basicAdmin))
    }

    @Test func aGivenMasterKeyFileIsUsedAndAWrongOneRefused() async throws {
        let (path, _) = try newKeyFile()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let original = try String(contentsOfFile: path, encoding: .utf8)
        let server = try ServerProcess(arguments: ["--master-key-file", path])
        defer { server.stop(); server.removeData() }
        #expect(!server.printed.contains("created master key"))
        #expect(!FileManager.default.fileExists(atPath: server.directory + "/master.key"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == original)
        _ = try await token(at: server, authorization: server.basicAdmin)
        #expect(server.stop() == 0)

        let (wrong, _) = try newKeyFile()
        defer { try? FileManager.default.removeItem(atPath: (wrong as NSString).deletingLastPathComponent) }
        let (status, output, error) = try serveFailing(server.directory, ["--master-key-file", wrong])
        #expect(status == 1)
        #expect(error.contains("error: master key \(wrong) does not open the signing keys: wrong key?"), "\(error)")
        #expect(!output.contains("listening"))
        // Without the option the default file is looked for, and it does not exist.
        let (missing, _, missingError) = try serveFailing(server.directory)
        #expect(missing == 1)
        #expect(missingError.contains("master key \(server.directory)/master.key is missing"), "\(missingError)")
        // A file that is not a master key is named too.
        try "not a key\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        let (malformed, _, malformedError) = try serveFailing(server.directory, ["--master-key-file", wrong])
        #expect(malformed == 1)
        #expect(malformedError.contains("master key \(wrong) is not an Authsec master key"), "\(malformedError)")
        // The right one still opens it.
        let again = try ServerProcess(
            directory: server.directory, arguments: ["--master-key-file", path], expectCredentials: false)
        defer { again.stop() }
        _ = try await token(at: again, authorization: server.basicAdmin)
    }

    @Test func initCreatesAGivenMasterKeyFile() async throws {
        let directory = ServerProcess.temporaryDirectory()
        let keyDirectory = ServerProcess.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: keyDirectory, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: keyDirectory)
        }
        let path = keyDirectory + "/master.key"
        let (status, output, error) = try runCLI([
            "init", "--data", directory, "--master-key-file", path, "--json",
        ])
        #expect(status == 0, "\(error)")
        // With --json, stdout holds the JSON alone; the note goes to stderr.
        let credentials = try #require(
            try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: String])
        #expect(error.contains("created master key \(path)"))
        #expect(try mode(path) == 0o600)
        #expect(!FileManager.default.fileExists(atPath: directory + "/master.key"))
        let server = try ServerProcess(
            directory: directory, arguments: ["--master-key-file", path], expectCredentials: false)
        defer { server.stop() }
        let basic =
            "Basic "
            + Data("\(credentials["client_id"] ?? ""):\(credentials["client_secret"] ?? "")".utf8).base64EncodedString()
        _ = try await token(at: server, authorization: basic)
    }

    @Test func aVersion1DirectoryGetsItsMasterKeyInTheMigration() async throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("AuthorityTests/Fixtures/store-v1/data.mdb")
        let directory = ServerProcess.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: fixture.path, toPath: directory + "/data.mdb")
        let server = try ServerProcess(directory: directory, expectCredentials: false)
        defer { server.stop() }
        let printed = server.printed
        #expect(printed.contains("created master key \(directory)/master.key"))
        #expect(printed.contains("migrated \(directory) to schema version 2"))
        #expect(printed.contains("migrated \(directory) to schema version 3"))
        #expect(printed.contains("migrated \(directory) to schema version 4"))
        #expect(
            printed.contains(
                "signing keys are now sealed with master key \(directory)/master.key and \(directory)/data.mdb is compacted"
            ), "\(printed)")
        #expect(try mode(directory + "/master.key") == 0o600)
        let admin =
            "Basic "
            + Data("admin-qivxtNONFNdO:0VcQmaOsjrKfwbCWg8-eW0tel5r4-6H29w8sLB4mji3Y2Tcc2Ko".utf8)
            .base64EncodedString()
        let token = try await token(at: server, authorization: admin)
        #expect(try await isActive(token, at: server, authorization: admin))
    }
}
