import ArgumentParser
import ClientModel
import Foundation
import Wire

struct Clients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register and manage clients (needs admin:clients).",
        subcommands: [
            Create.self, List.self, Get.self, Update.self, Delete.self, RotateSecret.self, Disable.self, Enable.self,
            History.self,
        ])
}

/// Client settings as flags; each given flag becomes a field (and an update-mask entry).
struct ClientFlags: ParsableArguments {
    @Option(help: "JSON file with the management API body (the seed's fields); flags given too override it.")
    var file: String?
    @Option(help: "Display name.") var name: String?
    @Option(help: "ai_agent | mcp_server | web | mobile (seed spellings like ai-agent work too).") var type: String?
    @Option(help: "Description.") var description: String?
    @Option(help: "Logo URL.") var logo: String?
    @Option(help: "Website URL.") var website: String?
    @Option(
        name: .customLong("grant"),
        help: "Grant type (repeat): client_credentials, authorization_code, refresh_token, device_code.")
    var grants: [String] = []
    @Option(
        name: .customLong("auth-method"), help: "client_secret_basic | client_secret_post | private_key_jwt | none.")
    var authMethod: String?
    @Option(name: .customLong("callback"), help: "Redirect URI (repeat).") var callbacks: [String] = []
    @Option(name: .customLong("web-origin"), help: "Allowed CORS origin (repeat).") var webOrigins: [String] = []
    @Option(name: .customLong("logout-url"), help: "Logout URL (repeat).") var logoutURLs: [String] = []
    @Option(name: .customLong("scope"), help: "Allowed scope (repeat, or space-separated).") var scopes: [String] = []
    @Option(name: .customLong("audience"), help: "Allowed audience / resource (repeat).") var audiences: [String] = []
    @Option(
        name: .customLong("resource"),
        help: "A URI this client serves as a resource server (repeat); it may introspect tokens for it.")
    var resources: [String] = []
    @Option(name: .customLong("access-token-lifetime"), help: "e.g. 1h.") var accessTokenLifetime: DurationArgument?
    @Option(name: .customLong("refresh-token-lifetime"), help: "e.g. 30d.") var refreshTokenLifetime: DurationArgument?
    @Option(name: .customLong("id-token-lifetime"), help: "e.g. 1h.") var idTokenLifetime: DurationArgument?
    @Option(name: .customLong("rotate-refresh-token"), help: "true | false.") var rotateRefreshToken: Bool?
    @Option(name: .customLong("require-pkce"), help: "true | false.") var requirePKCE: Bool?
    @Option(name: .customLong("require-par"), help: "true | false.") var requirePAR: Bool?
    @Option(name: .customLong("jwks-uri"), help: "URL of the client's JWK Set (private_key_jwt).") var jwksURI: String?
    @Option(name: .customLong("jwks-file"), help: "File holding the client's JWK Set (private_key_jwt).") var jwksFile:
        String?

    /// The client message and the field names given (file keys plus flags).
    func build() throws -> (client: Authsec_V1_Client, fields: [String]) {
        var client = Authsec_V1_Client()
        var fields: [String] = []
        if let file {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: file))
            } catch {
                warn("error: cannot read \(file): \(error.localizedDescription)")
                throw ExitCode.failure
            }
            do {
                let parsed = try ClientJSON.parse(data)
                client = parsed.client
                fields = parsed.fields
                for key in parsed.unknownKeys { warn("warning: \(file): ignoring unknown field '\(key)'") }
            } catch let error as ClientJSON.FieldError {
                warn("error: \(file): \(error.description)")
                throw ExitCode.failure
            }
        }
        func given(_ name: String) { if !fields.contains(name) { fields.append(name) } }
        if let name { client.name = name; given("name") }
        if let type { client.appType = type; given("app_type") }
        if let description { client.description_p = description; given("description") }
        if let logo { client.logo = logo; given("logo") }
        if let website { client.website = website; given("website") }
        if !grants.isEmpty { client.grantTypes = grants; given("grant_types") }
        if let authMethod { client.tokenEndpointAuthMethod = authMethod; given("token_endpoint_auth_method") }
        if !callbacks.isEmpty { client.callbacks = callbacks; given("callbacks") }
        if !webOrigins.isEmpty { client.webOrigins = webOrigins; given("web_origins") }
        if !logoutURLs.isEmpty { client.logoutUrls = logoutURLs; given("logout_urls") }
        if !scopes.isEmpty {
            client.allowedScopes = scopes.flatMap { $0.split(separator: " ").map(String.init) }
            given("allowed_scopes")
        }
        if !audiences.isEmpty { client.allowedAudiences = audiences; given("allowed_audiences") }
        if !resources.isEmpty { client.resources = resources; given("resources") }
        if let accessTokenLifetime {
            client.accessTokenLifetime = accessTokenLifetime.seconds; given("access_token_lifetime")
        }
        if let refreshTokenLifetime {
            client.refreshTokenLifetime = refreshTokenLifetime.seconds; given("refresh_token_lifetime")
        }
        if let idTokenLifetime { client.idTokenLifetime = idTokenLifetime.seconds; given("id_token_lifetime") }
        if let rotateRefreshToken { client.rotateRefreshToken = rotateRefreshToken; given("rotate_refresh_token") }
        if let requirePKCE {
            client.requireProofKeyForCodeExchange = requirePKCE; given("require_proof_key_for_code_exchange")
        }
        if let requirePAR {
            client.requirePushedAuthorizationRequests = requirePAR; given("require_pushed_authorization_requests")
        }
        if let jwksURI { client.jwksUri = jwksURI; given("jwks_uri") }
        if let jwksFile {
            guard let text = try? String(contentsOfFile: jwksFile, encoding: .utf8) else {
                warn("error: cannot read \(jwksFile)")
                throw ExitCode.failure
            }
            client.jwks = text
            given("jwks")
        }
        return (client, fields)
    }
}

/// An update of the `disabled` field alone.
func setDisabled(_ disabled: Bool, _ clientID: String, _ connection: ConnectionOptions) async throws {
    var call = Authsec_V1_UpdateClientRequest()
    call.clientID = clientID
    call.client.disabled = disabled
    call.updateMask = ["disabled"]
    printClient(try await connection.callAsAdmin(.updateClient(call)).client, json: connection.json)
}

func printClient(_ response: Authsec_V1_ClientResponse, json: Bool) {
    var object = ClientJSON.object(response.client)
    if !response.clientSecret.isEmpty { object["client_secret"] = response.clientSecret }
    if response.previousSecretExpiresAt != 0 { object["previous_secret_expires_at"] = response.previousSecretExpiresAt }
    if json {
        say(ClientJSON.text(object))
        return
    }
    let client = response.client
    var rows: [[String]] = [
        ["client_id", client.clientID], ["name", client.name], ["app_type", client.appType],
        ["grant_types", client.grantTypes.joined(separator: " ")],
        ["token_endpoint_auth_method", client.tokenEndpointAuthMethod],
        ["allowed_scopes", client.allowedScopes.joined(separator: " ")],
    ]
    if !client.allowedAudiences.isEmpty {
        rows.append(["allowed_audiences", client.allowedAudiences.joined(separator: " ")])
    }
    if client.disabled { rows.append(["disabled", "true (cannot authenticate)"]) }
    if !client.resources.isEmpty { rows.append(["resources", client.resources.joined(separator: " ")]) }
    if !client.callbacks.isEmpty { rows.append(["callbacks", client.callbacks.joined(separator: " ")]) }
    if !client.webOrigins.isEmpty { rows.append(["web_origins", client.webOrigins.joined(separator: " ")]) }
    if client.hasMcpConfig {
        let mcp = client.mcpConfig
        if !mcp.resource.isEmpty { rows.append(["resource", mcp.resource]) }
        for (name, url) in mcp.endpoints.sorted(by: { $0.key < $1.key }) { rows.append(["endpoints.\(name)", url]) }
        if !mcp.protocolVersion.isEmpty { rows.append(["protocol_version", mcp.protocolVersion]) }
        if !mcp.supportedFeatures.isEmpty {
            rows.append(["supported_features", mcp.supportedFeatures.joined(separator: " ")])
        }
        rows.append(["security.require_auth", String(mcp.security.requireAuth)])
        if !mcp.security.allowedOrigins.isEmpty {
            rows.append(["security.allowed_origins", mcp.security.allowedOrigins.joined(separator: " ")])
        }
    }
    if client.registeredAt != 0 {
        rows.append([
            "registered_at",
            ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(client.registeredAt))),
        ])
    }
    rows.append(["access_token_lifetime", "\(client.accessTokenLifetime)s"])
    if !response.clientSecret.isEmpty {
        rows.append(["client_secret", response.clientSecret + "   (shown once; store it now)"])
    }
    if response.previousSecretExpiresAt != 0 {
        rows.append([
            "previous secret valid until",
            ISO8601DateFormatter().string(
                from: Date(timeIntervalSince1970: TimeInterval(response.previousSecretExpiresAt))),
        ])
    }
    printTable(["FIELD", "VALUE"], rows)
}

extension Clients {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a client from flags or --file; prints its secret once.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var flags: ClientFlags

        func run() async throws {
            var call = Authsec_V1_CreateClientRequest()
            call.client = try flags.build().client
            let response = try await connection.callAsAdmin(.createClient(call))
            printClient(response.client, json: connection.json)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List clients, a page at a time.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var paging: PageOptions
        @Flag(help: "Only clients that registered themselves at /register (RFC 7591).") var registered = false

        func run() async throws {
            let (clients, token) = try await paging.collect { size, token in
                var call = Authsec_V1_ListClientsRequest()
                call.pageSize = size
                call.pageToken = token
                call.registeredOnly = registered
                let page = try await connection.callAsAdmin(.listClients(call)).clients
                return (page.clients, page.nextPageToken)
            }
            if connection.json {
                var object: [String: Any] = ["clients": clients.map(ClientJSON.object)]
                if !token.isEmpty { object["next_page_token"] = token }
                say(ClientJSON.text(object))
                return
            }
            printTable(
                ["CLIENT_ID", "NAME", "TYPE", "AUTH", "GRANTS"],
                clients.map {
                    [
                        $0.clientID, $0.name, $0.appType, $0.tokenEndpointAuthMethod,
                        $0.grantTypes.joined(separator: ","),
                    ]
                })
            if !token.isEmpty { say("next page: --page-token \(token)") }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one client.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The client's id.") var clientID: String

        func run() async throws {
            var call = Authsec_V1_GetClientRequest()
            call.clientID = clientID
            printClient(try await connection.callAsAdmin(.getClient(call)).client, json: connection.json)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change the given settings of a client; others keep their values.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The client's id.") var clientID: String
        @OptionGroup var flags: ClientFlags

        func run() async throws {
            let (client, fields) = try flags.build()
            guard !fields.isEmpty else {
                warn("error: nothing to change: give a setting flag or --file")
                throw ExitCode.failure
            }
            var call = Authsec_V1_UpdateClientRequest()
            call.clientID = clientID
            call.client = client
            call.updateMask = fields
            printClient(try await connection.callAsAdmin(.updateClient(call)).client, json: connection.json)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a client and its secrets.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The client's id.") var clientID: String

        func run() async throws {
            var call = Authsec_V1_DeleteClientRequest()
            call.clientID = clientID
            _ = try await connection.callAsAdmin(.deleteClient(call))
            if connection.json {
                say(ClientJSON.text(["deleted": true, "client_id": clientID]))
            } else {
                say("deleted client \(clientID)")
            }
        }
    }

    /// `clients disable ID`: the client keeps its settings and secrets but cannot authenticate,
    /// and its management tokens are refused, until `clients enable ID`.
    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a client from authenticating (its management tokens stop too); enable undoes it.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The client's id.") var clientID: String

        func run() async throws { try await setDisabled(true, clientID, connection) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a disabled client authenticate again.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The client's id.") var clientID: String

        func run() async throws { try await setDisabled(false, clientID, connection) }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret", abstract: "Issue a new client secret; prints it once.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The client's id.") var clientID: String
        @Option(
            name: .customLong("keep-previous-for"),
            help: "How long the old secret keeps working, e.g. 1h (default: stops at once).")
        var keepPreviousFor: DurationArgument?

        func run() async throws {
            var call = Authsec_V1_RotateClientSecretRequest()
            call.clientID = clientID
            call.keepPreviousFor = keepPreviousFor?.seconds ?? 0
            printClient(try await connection.callAsAdmin(.rotateClientSecret(call)).client, json: connection.json)
        }
    }
}
