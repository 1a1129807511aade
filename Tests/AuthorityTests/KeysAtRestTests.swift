import Crypto
import Foundation
import Store
import Testing

@testable import Authority

/// Keys at rest (DESIGN.md "Security invariants"): signing keys are sealed with a master key kept
/// outside the store, so a copy of `data.mdb` alone mints nothing.
@Suite struct KeysAtRestTests {
    /// The raw P-256 private keys Authority signs with.
    func rawSigningKeys(_ authority: Authority) -> [Data] {
        authority.keyRing.withLock { $0.entries.map(\.privateKey.rawRepresentation) }
    }

    func signingKeyRecords(_ store: Store) throws -> [Authsec_Store_V1_SigningKeyRecord] {
        try store.read { try $0.scan(Keyspace.signingKeys, limit: .max).map(\.value) }
    }

    func expectSealingError(
        _ code: SealingError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
    ) {
        do {
            try body()
            Issue.record("expected SealingError \(code), got success", sourceLocation: sourceLocation)
        } catch let error as SealingError {
            #expect(error.code == code, "\(error.description)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected SealingError \(code), got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func theDataFileHoldsNoRawSigningKey() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        _ = try await fixture.authority.rotateKey(activateIn: 0)
        let rawKeys = rawSigningKeys(fixture.authority)
        #expect(rawKeys.count == 2)
        #expect(rawKeys.allSatisfy { $0.count == 32 })
        for record in try signingKeyRecords(fixture.store) {
            #expect(record.privateKey.isEmpty)
            #expect(record.sealedBy == fixture.sealingKey.id)
            // Nonce, ciphertext of 32 bytes, tag.
            #expect(record.sealedPrivateKey.count == 12 + 32 + 16)
        }
        let file = try Data(contentsOf: URL(fileURLWithPath: fixture.directory).appendingPathComponent("data.mdb"))
        #expect(file.count > 0)
        for raw in rawKeys {
            #expect(file.range(of: raw) == nil, "a raw signing key is in data.mdb")
        }
    }

    @Test func aStoreOpensOnlyWithItsMasterKeyAndTokensVerifyAfterARestart() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let client = try await fixture.agent()
        let token = try await fixture.token(client).accessToken
        // Restart: a new Store and Authority over the same directory, the key read back from its file text.
        fixture.store.close()
        let store = try Store(
            configuration: .init(directory: fixture.directory, schema: Keyspace.schema, mapSize: 64 << 20))
        defer { store.close() }
        let wrong = SealingKey.random()
        expectSealingError(.wrongKey) {
            _ = try Authority(store: store, issuer: Fixture.issuer, sealingKey: wrong, clock: fixture.clock)
        }
        expectSealingError(.wrongKey) { try Authority.checkSealingKey(wrong, opens: store) }
        let reread = try SealingKey(fileText: fixture.sealingKey.fileText)
        try Authority.checkSealingKey(reread, opens: store)
        let restarted = try Authority(store: store, issuer: Fixture.issuer, sealingKey: reread, clock: fixture.clock)
        #expect(try restarted.verifyAccessToken(token)?.clientID == client.client.clientID)
        // And it still signs: a key rotated after the restart is sealed with the same master key.
        _ = try await restarted.rotateKey(activateIn: 0)
        let fresh = try await restarted.token(
            TokenRequest(
                grantType: "client_credentials", scope: nil, audiences: [],
                credentials: .basic(clientID: client.client.clientID, secret: client.secret!))
        ).value()
        #expect(try restarted.verifyAccessToken(fresh.accessToken) != nil)
        #expect(try signingKeyRecords(store).allSatisfy { $0.sealedBy == reread.id && $0.privateKey.isEmpty })
    }

    @Test func aSealedKeyMovedToAnotherRecordOrChangedDoesNotOpen() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        _ = try await fixture.authority.rotateKey(activateIn: 0)
        let records = try signingKeyRecords(fixture.store)
        try #require(records.count == 2)
        // Swap the sealed blobs of the two records.
        var first = records[0]
        var second = records[1]
        (first.sealedPrivateKey, second.sealedPrivateKey) = (second.sealedPrivateKey, first.sealedPrivateKey)
        try await fixture.store.write { [first, second] txn in
            try txn.put(Keyspace.signingKeys, first.kid, first)
            try txn.put(Keyspace.signingKeys, second.kid, second)
        }
        expectSealingError(.damaged) { try Authority.checkSealingKey(fixture.sealingKey, opens: fixture.store) }
        // One changed bit.
        var changed = records[0]
        changed.sealedPrivateKey[20] ^= 1
        try await fixture.store.write { [records, changed] txn in
            try txn.put(Keyspace.signingKeys, records[1].kid, records[1])
            try txn.put(Keyspace.signingKeys, changed.kid, changed)
        }
        expectSealingError(.damaged) { try Authority.checkSealingKey(fixture.sealingKey, opens: fixture.store) }
        // A raw key where a sealed one belongs is refused too.
        var raw = records[0]
        raw.privateKey = rawSigningKeys(fixture.authority)[0]
        raw.sealedPrivateKey = Data()
        try await fixture.store.write { [raw] txn in try txn.put(Keyspace.signingKeys, raw.kid, raw) }
        expectSealingError(.damaged) {
            _ = try Authority(store: fixture.store, issuer: Fixture.issuer, sealingKey: fixture.sealingKey)
        }
    }

    @Test func masterKeyFileText() throws {
        let key = SealingKey.random()
        let lines = key.fileText.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first == "authsec-master-key v1")
        #expect(Data(base64Encoded: String(lines[1]))?.count == 32)
        let reread = try SealingKey(fileText: "\n" + key.fileText.replacingOccurrences(of: "\n", with: " \r\n"))
        #expect(reread.id == key.id)
        #expect(SealingKey.random().id != key.id)
        #expect(!key.id.isEmpty)
        let body = String(lines[1])
        let short = Data(repeating: 7, count: 16).base64EncodedString()
        for text in [
            "", body, "authsec-master-key v2\n\(body)\n", "authsec-master-key v1\n",
            "authsec-master-key v1\n\(short)\n",
            "authsec-master-key v1\n\(body)\n\(body)\n", "authsec-master-key v1\nnot base64!\n",
        ] {
            expectSealingError(.malformedKey) { _ = try SealingKey(fileText: text) }
        }
        expectSealingError(.malformedKey) { _ = try SealingKey(bytes: [UInt8](repeating: 1, count: 31)) }
        // Known bytes give a known id, so the id never changes under a stored record.
        let fixed = try SealingKey(bytes: [UInt8](repeating: 0, count: 32))
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array("authsec master key id".utf8), using: SymmetricKey(data: [UInt8](repeating: 0, count: 32)))
        #expect(fixed.id == Base64URL.encode(Array(mac).prefix(9)))
    }

    @Test func theVersion1StoreIsSealedByItsMigrationAndNoRawKeyIsLeftAfterCompaction() async throws {
        let fixtureDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/store-v1")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authsec-v1-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let dataFile = directory.appendingPathComponent("data.mdb")
        try FileManager.default.copyItem(at: fixtureDirectory.appendingPathComponent("data.mdb"), to: dataFile)
        let configuration = Store.Configuration(directory: directory.path, schema: Keyspace.schema, mapSize: 64 << 20)
        let sealingKey = SealingKey.random()
        let before: [Authsec_Store_V1_SigningKeyRecord]
        do {
            let store = try Store(configuration: configuration)
            defer { store.close() }
            before = try signingKeyRecords(store)
            try #require(!before.isEmpty)
            #expect(before.allSatisfy { $0.privateKey.count == 32 && $0.sealedPrivateKey.isEmpty })
            // A store before version 3 holds nothing sealed: it may be given a new master key.
            #expect(try Authority.holdsSealedSecrets(store) == false)
            // Through version 3 only: a later step's writes may reuse the pages it freed.
            #expect(try await Authority.migrate(store, sealingKey: sealingKey, through: 3) == [2, 3])
            #expect(try Authority.holdsSealedSecrets(store))
            let after = try signingKeyRecords(store)
            #expect(after.map(\.kid) == before.map(\.kid))
            #expect(after.allSatisfy { $0.privateKey.isEmpty && $0.sealedBy == sealingKey.id })
        }
        // LMDB leaves the raw keys in the pages it freed; the compacting rewrite the server runs
        // after this migration leaves them out.
        let migrated = try Data(contentsOf: dataFile)
        #expect(before.contains { migrated.range(of: $0.privateKey) != nil }, "expected the freed pages to hold them")
        try Store.compact(configuration: configuration)
        let compacted = try Data(contentsOf: dataFile)
        for record in before {
            #expect(compacted.range(of: record.privateKey) == nil, "a raw signing key is left in data.mdb")
        }

        let store = try Store(configuration: configuration)
        defer { store.close() }
        expectSealingError(.wrongKey) { try Authority.checkSealingKey(SealingKey.random(), opens: store) }
        #expect(try await Authority.migrate(store, sealingKey: sealingKey) == [4, 5, 6, 7, 8, 9])
        let authority = try Authority(store: store, issuer: Fixture.issuer, sealingKey: sealingKey)
        // The sealed keys are the very keys version 1 stored raw.
        #expect(Set(rawSigningKeys(authority)) == Set(before.map(\.privateKey)))
        // The init admin's secret still works, and its token verifies.
        let grant = try await authority.token(
            TokenRequest(
                grantType: "client_credentials", scope: "admin:clients", audiences: [],
                credentials: .basic(
                    clientID: "admin-qivxtNONFNdO", secret: "0VcQmaOsjrKfwbCWg8-eW0tel5r4-6H29w8sLB4mji3Y2Tcc2Ko"))
        ).value()
        _ = try authority.authorizeAdmin(token: grant.accessToken, scope: Scopes.adminClients)
        let agents = try authority.listClients(pageSize: 10, pageToken: nil).clients.filter { $0.name == "v1 agent" }
        #expect(agents.map(\.allowedScopes) == [["ai:access"]])
    }
}
