import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Testing
import Wire

/// A throwaway CA and server certificates, made with openssl by `scripts/make-test-certs.sh`.
struct TestCertificates {
    let directory: String

    init() throws {
        directory = ServerProcess.temporaryDirectory() + "-certs"
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.appendingPathComponent("scripts/make-test-certs.sh").path, directory]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ServerProcess.ServerError(description: "make-test-certs.sh failed (is openssl installed?)")
        }
    }

    func path(_ name: String) -> String { directory + "/" + name }
    var ca: String { path("ca.pem") }

    /// `serve` flags presenting `name`.pem and `name`.key.
    func serveArguments(_ name: String = "server") -> [String] {
        ["--tls-cert", path("\(name).pem"), "--tls-key", path("\(name).key")]
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// Both doors over TLS, through the real server process: the Swift client, the CLI, bench and
/// an HTTPS client; refusals of untrusted and plain-text peers; start-up errors.
@Suite(.serialized, .timeLimit(.minutes(3))) struct TLSTests {
    func environment(_ server: ServerProcess, _ certificates: TestCertificates) -> [String: String] {
        [
            "AUTHSEC_ADDRESS": "127.0.0.1:\(server.wirePort)", "AUTHSEC_CLIENT_ID": server.adminID,
            "AUTHSEC_CLIENT_SECRET": server.adminSecret, "AUTHSEC_CA_FILE": "",
        ]
    }

    /// The `iss` claim of a compact JWS, read without verifying (the issuer is what is checked here).
    func issuer(of token: String) throws -> String? {
        var payload = String(token.split(separator: ".")[1]).replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        let data = try #require(Data(base64Encoded: payload))
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["iss"] as? String
    }

    @Test func bothDoorsSpeakTLSWithACertificateChainAndAnHTTPSIssuer() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let server = try ServerProcess(arguments: certificates.serveArguments("chain"))
        defer { server.stop(); server.removeData() }
        #expect(server.httpURL.hasPrefix("https://127.0.0.1:"))
        #expect(server.printed.contains("(issuer \(server.httpURL))"))
        #expect(server.printed.contains("wire listening on 127.0.0.1:\(server.wirePort) (TLS)"))

        // The wire door, by IP address and by name; the client trusts only the root CA, so the
        // server must send the intermediate.
        let tls = try WireClient.TLS.trusting(caFile: certificates.ca)
        for host in ["127.0.0.1", "localhost"] {
            let client = try await WireClient.connect(host: host, port: server.wirePort, tls: tls)
            let response = try await client.call(.clientCredentials(authorization: server.basicAdmin))
            #expect(response.status.code == .ok, "\(response.status)")
            #expect(try issuer(of: response.token.accessToken) == server.httpURL)
            await client.close()
        }

        // The HTTP door with a stock HTTPS client trusting the same CA.
        var configuration = HTTPClient.Configuration()
        var clientTLS = TLSConfiguration.makeClientConfiguration()
        clientTLS.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificates.ca))
        configuration.tlsConfiguration = clientTLS
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let response = try await http.execute(
                HTTPClientRequest(url: server.httpURL + "/.well-known/oauth-authorization-server"),
                timeout: .seconds(10))
            #expect(response.status == .ok)
            let body = try await response.body.collect(upTo: 1 << 20)
            let metadata = try #require(
                try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])
            #expect(metadata["issuer"] as? String == server.httpURL)
            #expect(metadata["token_endpoint"] as? String == server.httpURL + "/oauth/token")
        } catch {
            try await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    @Test func aClientThatDoesNotTrustTheCertificateIsRefusedClearly() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let server = try ServerProcess(arguments: certificates.serveArguments())
        defer { server.stop(); server.removeData() }
        let untrusting = try WireClient.TLS.trusting(caFile: certificates.path("other-ca.pem"))
        await #expect(throws: WireError.tlsHandshakeFailed(reason: "certificate verify failed")) {
            _ = try await WireClient.connect(host: "127.0.0.1", port: server.wirePort, tls: untrusting)
        }
        // The server is unharmed.
        let client = try await WireClient.connect(
            host: "127.0.0.1", port: server.wirePort, tls: try .trusting(caFile: certificates.ca))
        #expect(try await client.call(.clientCredentials(authorization: server.basicAdmin)).status.code == .ok)
        await client.close()
    }

    @Test func aPlainTextClientOnTheTLSWireDoorGetsNoAnswerAndIsClosed() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let server = try ServerProcess(arguments: certificates.serveArguments())
        defer { server.stop(); server.removeData() }
        let plain = try await WireClient.connect(host: "127.0.0.1", port: server.wirePort)
        // All that comes back is a TLS alert, which the client recognizes.
        await #expect(throws: WireError.serverSpeaksTLS) {
            _ = try await plain.call(.clientCredentials(authorization: server.basicAdmin), timeout: .seconds(10))
        }
        for _ in 0..<200 where plain.isActive { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!plain.isActive)
        // And a TLS client to a plain-text door is told what is wrong.
        let plainServer = try ServerProcess()
        defer { plainServer.stop(); plainServer.removeData() }
        await #expect(
            throws: WireError.tlsHandshakeFailed(reason: "wrong version number (is the server speaking TLS?)")
        ) {
            _ = try await WireClient.connect(
                host: "127.0.0.1", port: plainServer.wirePort, tls: try .trusting(caFile: certificates.ca))
        }
    }

    @Test func theCLIAndBenchSpeakTLSWithACAFileAndFailClearlyWithout() throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let server = try ServerProcess(arguments: certificates.serveArguments())
        defer { server.stop(); server.removeData() }
        let environment = environment(server, certificates)
        let address = "127.0.0.1:\(server.wirePort)"

        let (status, token, error) = try runCLI(["token", "--ca-file", certificates.ca], environment: environment)
        #expect(status == 0, "\(error)")
        #expect(try issuer(of: token.trimmingCharacters(in: .whitespacesAndNewlines)) == server.httpURL)
        // The same through the environment, with a management command.
        var withCA = environment
        withCA["AUTHSEC_CA_FILE"] = certificates.ca
        let (listStatus, listing, listError) = try runCLI(["clients", "list", "--json"], environment: withCA)
        #expect(listStatus == 0, "\(listError)")
        #expect(listing.contains(server.adminID))
        // By name: the certificate names localhost too.
        let (nameStatus, _, nameError) = try runCLI(
            ["token", "--ca-file", certificates.ca, "--address", "localhost:\(server.wirePort)"],
            environment: environment)
        #expect(nameStatus == 0, "\(nameError)")

        // --tls trusts only the system's CAs, which did not sign this certificate.
        let (tlsStatus, _, tlsError) = try runCLI(["token", "--tls"], environment: environment)
        #expect(tlsStatus == 1)
        #expect(tlsError == "error: \(address): TLS handshake failed: certificate verify failed\n")
        // Plain text to a TLS door: a clear failure, not a hang.
        let (plainStatus, _, plainError) = try runCLI(["token", "--timeout", "20s"], environment: environment)
        #expect(plainStatus == 1)
        #expect(
            plainError
                == "error: \(address): the server speaks TLS; give --ca-file FILE (or set AUTHSEC_CA_FILE) or --tls\n")
        // A CA file that is not there.
        let (missingStatus, _, missingError) = try runCLI(
            ["token", "--ca-file", certificates.path("nope.pem")], environment: environment)
        #expect(missingStatus == 1)
        #expect(missingError == "error: CA file \(certificates.path("nope.pem")): No such file or directory\n")

        // authsec bench over TLS.
        let (benchStatus, output, benchError) = try runCLI(
            [
                "bench", "--ca-file", certificates.ca, "--op", "token", "--connections", "2", "--pipeline", "4",
                "--requests", "300", "--warmup", "0s", "--json",
            ],
            environment: environment)
        #expect(benchStatus == 0, "\(benchError)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(report["requests"] as? Int == 300)
        #expect(report["errors"] as? Int == 0)
    }

    @Test func badTLSFilesStopTheStartWithTheReason() throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let directory = ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = ["serve", "--data", directory, "--http", "127.0.0.1:0", "--wire", "127.0.0.1:0"]

        let (alone, _, aloneError) = try runCLI(base + ["--tls-cert", certificates.path("server.pem")])
        #expect(alone == 64)
        #expect(aloneError.contains("--tls-cert and --tls-key go together"), "\(aloneError)")

        let mismatched = ["--tls-cert", certificates.path("server.pem"), "--tls-key", certificates.path("server2.key")]
        let (mismatch, _, mismatchError) = try runCLI(base + mismatched)
        #expect(mismatch == 1)
        #expect(
            mismatchError.contains(
                "the private key in \(certificates.path("server2.key")) does not match the certificate in \(certificates.path("server.pem"))"
            ), "\(mismatchError)")

        let missing = ["--tls-cert", certificates.path("none.pem"), "--tls-key", certificates.path("server.key")]
        let (absent, _, absentError) = try runCLI(base + missing)
        #expect(absent == 1)
        #expect(absentError.contains("cannot read \(certificates.path("none.pem")): No such file or directory"))

        let swapped = ["--tls-cert", certificates.path("server.key"), "--tls-key", certificates.path("server.pem")]
        let (wrong, _, wrongError) = try runCLI(base + swapped)
        #expect(wrong == 1)
        #expect(wrongError.contains("holds no PEM certificate") || wrongError.contains("is not a PEM certificate"))
        // Nothing was started: no store was created.
        #expect(!FileManager.default.fileExists(atPath: directory))
    }
}
