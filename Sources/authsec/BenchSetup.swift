import ArgumentParser
import ClientModel
import Foundation
import NIOCore
import Synchronization
import Wire

/// The clients, connections and tokens a bench run needs, and their removal afterwards.
final class BenchSetup: Sendable {
    let clients: [WireClient]
    /// How the run's connections speak TLS, or nil for plain TCP.
    let tls: WireClient.TLS?
    let adminBearer: String
    let benchClientID: String
    let benchBasic: String
    let timeout: TimeAmount
    private let createdClients = Mutex<[String]>([])
    private let createdUsers = Mutex<[String]>([])

    private init(
        clients: [WireClient], tls: WireClient.TLS?, adminBearer: String, benchClientID: String, benchBasic: String,
        timeout: TimeAmount
    ) {
        self.clients = clients
        self.tls = tls
        self.adminBearer = adminBearer
        self.benchClientID = benchClientID
        self.benchBasic = benchBasic
        self.timeout = timeout
    }

    /// Connects, authenticates as admin and registers a throwaway ai_agent client to load with.
    static func prepare(connection: ConnectionOptions, connections: Int, callTimeout: Int64) async throws -> BenchSetup
    {
        let tls = try connection.wireTLS()
        var clients: [WireClient] = []
        for _ in 0..<connections { clients.append(try await connection.connect(tls: tls)) }
        let admin = clients[0]
        let timeout = TimeAmount.seconds(callTimeout)
        let tokenRequest = Authsec_V1_Request.managementToken(authorization: try connection.basicAuthorization())
        let granted = try await Self.expectOK(admin.call(tokenRequest, timeout: timeout), "admin token")
        let bearer = "Bearer " + granted.token.accessToken
        var call = Authsec_V1_CreateClientRequest()
        call.client.name = "authsec-bench"
        call.client.appType = "ai_agent"
        call.client.description_p = "Temporary client of authsec bench; deleted when the run ends."
        let create = Authsec_V1_Request(authorization: bearer, call: .createClient(call))
        let created = try await Self.expectOK(admin.call(create, timeout: timeout), "create bench client").client
        let basic = "Basic " + Data("\(created.client.clientID):\(created.clientSecret)".utf8).base64EncodedString()
        let setup = BenchSetup(
            clients: clients, tls: tls, adminBearer: bearer, benchClientID: created.client.clientID, benchBasic: basic,
            timeout: timeout)
        setup.createdClients.withLock { $0.append(created.client.clientID) }
        return setup
    }

    static func expectOK(_ response: Authsec_V1_Response, _ what: String) throws -> Authsec_V1_Response {
        guard response.status.code == .ok else {
            throw BenchError(description: "\(what) failed: \(response.status.error) \(response.status.message)")
        }
        return response
    }

    func workload(
        for op: Bench.Operation, tokens: Int, distinctClients: Int, pipeline: Int, inFlight: Int = 1,
        issuer: String? = nil
    ) async throws -> Workload {
        let basic = benchBasic
        let tokenCall = Authsec_V1_Request.clientCredentials(authorization: basic)
        func introspect(_ token: String) -> Authsec_V1_Request {
            var call = Authsec_V1_IntrospectRequest()
            call.token = token
            return Authsec_V1_Request(authorization: basic, call: .introspect(call))
        }
        func revoke(_ token: String) -> Authsec_V1_Request {
            var call = Authsec_V1_RevokeRequest()
            call.token = token
            return Authsec_V1_Request(authorization: basic, call: .revoke(call))
        }
        switch op {
        case .token:
            return .constant(tokenCall)
        case .introspect:
            let hot = try await issue(1, pipeline: pipeline)[0]
            return .constant(introspect(hot))
        case .introspectDistinct:
            let pool = try await issue(tokens, pipeline: pipeline).map(introspect)
            return Workload(limit: nil) { pool[$0 % pool.count] }
        case .revoke:
            let pool = try await issue(tokens, pipeline: pipeline).map(revoke)
            return Workload(limit: pool.count) { pool[$0] }
        case .mixed:
            // 70% introspection of distinct tokens, 25% issuance, 5% revocation of distinct tokens.
            let issued = try await issue(tokens, pipeline: pipeline)
            let introspections = issued.map(introspect)
            let revocations = issued.reversed().map(revoke)
            return Workload(limit: nil) { index in
                switch index % 20 {
                case 0: revocations[(index / 20) % revocations.count]
                case 1...5: tokenCall
                default: introspections[index % introspections.count]
                }
            }
        case .tokenDistinct:
            // Every request authenticates a different client, cycling through `distinctClients` of them.
            let pool = try await registerClients(distinctClients, pipeline: pipeline).map {
                Authsec_V1_Request.clientCredentials(authorization: $0)
            }
            return Workload(limit: nil) { pool[$0 % pool.count] }
        case .tokenLimited:
            // A limit far above the load: what the check costs, not what it refuses.
            let limited = try await registerClients(1, pipeline: 1) {
                $0.agentConfig.rateLimits.requestsPerMinute = 1_000_000_000
            }
            return .constant(Authsec_V1_Request.clientCredentials(authorization: limited[0]))
        case .charge, .chargeDistinct:
            // A gateway allowed authsec:introspect charges 1 model token at a time to agents with
            // budgets far above the load, each by its access token.
            let gateway = try await registerClients(1, pipeline: 1) { $0.allowedScopes = ["authsec:introspect"] }
            let gatewayToken = try await issue(1, pipeline: 1, as: gateway)[0]
            let agents = try await registerClients(op == .charge ? 1 : distinctClients, pipeline: pipeline) {
                $0.agentConfig.rateLimits.tokensPerDay = 1_000_000_000_000
            }
            let pool = try await issue(agents.count, pipeline: pipeline, as: agents).map { token in
                var call = Authsec_V1_ChargeRequest()
                call.token = token
                call.amount = 1
                return Authsec_V1_Request(authorization: "Bearer " + gatewayToken, call: .charge(call))
            }
            return Workload(limit: nil) { pool[$0 % pool.count] }
        case .codeExchange:
            let people = try await BenchPeople.prepare(self, issuer: try await httpIssuer(issuer))
            let pool = try await people.mintCodes(min(tokens, 20_000)).map(people.exchange)
            return Workload(limit: pool.count) { pool[$0] }
        case .refresh:
            let people = try await BenchPeople.prepare(self, issuer: try await httpIssuer(issuer))
            let codes = try await people.mintCodes(inFlight + 16)
            let starts = try await collect(codes.count, pipeline: pipeline, "starting refresh chains") {
                people.exchange(codes[$0])
            } value: {
                $0.token.refreshToken
            }
            let chains = RefreshChains(starts)
            return Workload(
                limit: nil, request: { _ in people.refresh(chains.take() ?? "no free chain") },
                observe: { chains.put($0.token.refreshToken) })
        case .createClient:
            return Workload(
                limit: nil, request: creationRequests(),
                observe: { [weak self] response in self?.noteCreated(response.client.client.clientID) })
        case .kdf:
            throw ValidationError("--op kdf is measured in this process, with no server")
        }
    }

    /// `count` refresh tokens, each the start of a chain, for the web client of `people`.
    private func refreshChainStarts(_ count: Int, pipeline: Int, issuer: String?) async throws -> (
        BenchPeople, [String]
    ) {
        let people = try await BenchPeople.prepare(self, issuer: try await httpIssuer(issuer))
        var starts: [String] = []
        // Codes live 60 s: minted and redeemed in batches.
        while starts.count < count {
            let codes = try await people.mintCodes(min(count - starts.count, 10_000))
            starts += try await collect(codes.count, pipeline: pipeline, "starting refresh chains") {
                people.exchange(codes[$0])
            } value: {
                $0.token.refreshToken
            }
        }
        return (people, starts)
    }

    /// Refresh chains for an HTTP load generator: the web client's Basic credentials and the tokens.
    func refreshChains(_ count: Int, pipeline: Int, issuer: String?) async throws -> (String, [String]) {
        let (people, starts) = try await refreshChainStarts(count, pipeline: pipeline, issuer: issuer)
        return (people.basic, starts)
    }

    /// The HTTP door: `given`, or the issuer the server reports over the wire.
    private func httpIssuer(_ given: String?) async throws -> String {
        if let given { return given.hasSuffix("/") ? String(given.dropLast()) : given }
        let info = try Self.expectOK(
            try await clients[0].call(
                Authsec_V1_Request(authorization: "", call: .serverInfo(Authsec_V1_ServerInfoRequest())),
                timeout: timeout),
            "server info")
        return info.serverInfo.issuer
    }

    /// Issues `count` tokens to the bench client, spread over every connection.
    func issue(_ count: Int, pipeline: Int) async throws -> [String] {
        try await issue(count, pipeline: pipeline, as: [benchBasic])
    }

    /// Issues `count` tokens, the `i`th to the client of `basics[i % basics.count]`.
    func issue(_ count: Int, pipeline: Int, as basics: [String]) async throws -> [String] {
        try await collect(
            count, pipeline: pipeline, "preparing tokens",
            request: { Authsec_V1_Request.clientCredentials(authorization: basics[$0 % basics.count]) }
        ) { $0.token.accessToken }
    }

    /// Registers `count` ai_agent clients, each with its secret and the settings `configure`
    /// gives; returns their Basic credentials.
    func registerClients(
        _ count: Int, pipeline: Int, _ configure: @escaping @Sendable (inout Authsec_V1_Client) -> Void = { _ in }
    ) async throws -> [String] {
        try await collect(count, pipeline: pipeline, "registering clients", request: creationRequests(configure)) {
            [weak self] response in
            let created = response.client
            self?.noteCreated(created.client.clientID)
            return "Basic " + Data("\(created.client.clientID):\(created.clientSecret)".utf8).base64EncodedString()
        }
    }

    /// The request that registers the run's `index`th ai_agent client.
    private func creationRequests(
        _ configure: @escaping @Sendable (inout Authsec_V1_Client) -> Void = { _ in }
    ) -> @Sendable (Int) -> Authsec_V1_Request {
        let bearer = adminBearer
        let run = String(UUID().uuidString.prefix(8))
        return { index in
            var call = Authsec_V1_CreateClientRequest()
            call.client.name = "authsec-bench-\(run)-\(index)"
            call.client.appType = "ai_agent"
            configure(&call.client)
            return Authsec_V1_Request(authorization: bearer, call: .createClient(call))
        }
    }

    /// `count` calls spread over every connection, `pipeline` (at most 32) in flight on each; the
    /// value of each answer, in no particular order.
    func collect<Value: Sendable>(
        _ count: Int, pipeline: Int, _ what: String, request: @escaping @Sendable (Int) -> Authsec_V1_Request,
        value: @escaping @Sendable (Authsec_V1_Response) -> Value
    ) async throws -> [Value] {
        let next = SharedCounter()
        let callers = clients.count * max(1, min(pipeline, 32))
        let timeout = self.timeout
        return try await withThrowingTaskGroup(of: [Value].self) { group in
            for caller in 0..<callers {
                let client = clients[caller % clients.count]
                group.addTask {
                    var values: [Value] = []
                    while true {
                        let index = next.take()
                        guard index < count else { return values }
                        let response = try Self.expectOK(try await client.call(request(index), timeout: timeout), what)
                        values.append(value(response))
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    /// Deletes every client the run created (the bench client, and those of create-client unless kept).
    func cleanup(keepingCreated: Bool = false) async {
        let ids = keepingCreated ? [benchClientID] : createdClients.withLock { $0 }
        await deleteClients(ids)
        for username in keepingCreated ? [] : createdUsers.withLock({ $0 }) {
            var call = Authsec_V1_DeleteUserRequest()
            call.user = username
            _ = try? await clients[0].call(
                Authsec_V1_Request(authorization: adminBearer, call: .deleteUser(call)), timeout: timeout)
        }
        for client in clients { await client.close() }
    }

    func noteCreated(_ id: String) {
        createdClients.withLock { $0.append(id) }
    }

    func noteUser(_ username: String) {
        createdUsers.withLock { $0.append(username) }
    }

    private func deleteClients(_ ids: [String]) async {
        let next = SharedCounter()
        let bearer = adminBearer
        let timeout = self.timeout
        await withTaskGroup(of: Void.self) { group in
            for caller in 0..<(clients.count * 8) {
                let client = clients[caller % clients.count]
                group.addTask {
                    while true {
                        let index = next.take()
                        guard index < ids.count else { return }
                        var call = Authsec_V1_DeleteClientRequest()
                        call.clientID = ids[index]
                        let request = Authsec_V1_Request(authorization: bearer, call: .deleteClient(call))
                        _ = try? await client.call(request, timeout: timeout)
                    }
                }
            }
        }
    }
}

/// An index handed out once per call across tasks.
final class SharedCounter: Sendable {
    private let value = Atomic<Int>(0)

    /// The next index, starting at 0.
    func take() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}
