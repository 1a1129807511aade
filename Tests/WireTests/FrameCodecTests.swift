import ClientModel
import Foundation
import NIOCore
import NIOEmbedded
import NIOTestUtils
import SwiftProtobuf
import Testing

@testable import Wire

@Suite struct FrameCodecTests {
    func frame(_ payload: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(payload.count), endianness: .big)
        buffer.writeBytes(payload)
        return buffer
    }

    @Test func decodesFramesDripFed() throws {
        let payloads: [[UInt8]] = [[1, 2, 3], [], Array(repeating: 7, count: 300)]
        let inputs = payloads.map { (frame($0), [ByteBuffer(bytes: $0)]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: inputs) {
            FrameDecoder(maxFrameSize: 1024)
        }
    }

    @Test func refusesAnOversizedFrameFromItsLengthAlone() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameSize: 16)))
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(1 << 30), endianness: .big)
        #expect(throws: WireError.frameTooLarge(size: 1 << 30, limit: 16)) {
            try channel.writeInbound(buffer)
        }
        _ = try? channel.finish()
    }

    @Test func encoderPrefixesLength() throws {
        var out = ByteBuffer()
        try FrameEncoder().encode(data: ByteBuffer(bytes: [9, 8]), out: &out)
        #expect(Array(out.readableBytesView) == [0, 0, 0, 2, 9, 8])
    }

    @Test func requestRoundTripsAndUnknownCallsSurviveAsUnknownFields() throws {
        var request = Authsec_V1_Request()
        request.id = 42
        request.authorization = "Basic abc"
        var token = Authsec_V1_TokenRequest()
        token.grantType = "client_credentials"
        request.call = .token(token)
        let decoded = try Authsec_V1_Request(serializedBytes: try request.serializedBytes() as [UInt8])
        #expect(decoded == request)
        // Field 99, length-delimited and empty: a call this version does not know.
        let unknown = try Authsec_V1_Request(serializedBytes: [0x08, 0x05, 0x9A, 0x06, 0x00])
        #expect(unknown.id == 5)
        #expect(unknown.call == nil)
        #expect(!unknown.unknownFields.data.isEmpty)
    }
}

@Suite struct ClientJSONTests {
    @Test func parsesTheSeedBodyVerbatim() throws {
        let seed = """
            {"name": "My AI Assistant", "description": "An intelligent conversational AI agent", "app_type": "ai_agent",
             "grant_types": ["client_credentials", "authorization_code"], "token_endpoint_auth_method": "client_secret_post",
             "callbacks": ["https://myapp.com/callback"], "web_origins": ["https://myapp.com"],
             "allowed_scopes": ["openid", "profile", "ai:access"]}
            """
        let parsed = try ClientJSON.parse(Data(seed.utf8))
        #expect(parsed.client.name == "My AI Assistant")
        #expect(parsed.client.appType == "ai_agent")
        #expect(parsed.client.grantTypes == ["client_credentials", "authorization_code"])
        #expect(parsed.client.tokenEndpointAuthMethod == "client_secret_post")
        #expect(parsed.client.allowedScopes == ["openid", "profile", "ai:access"])
        #expect(parsed.unknownKeys.isEmpty)
    }

    @Test func acceptsSeedGroupingsAndSpellings() throws {
        let text = """
            {"name": "Agent", "type": "ai-agent", "logo": "https://example.com/logo.png",
             "tokenConfig": {"access_token_lifetime": 600, "rotate_refresh_token": false},
             "aiAgentConfig": {"agent_type": "conversational", "capabilities": ["text_generation"], "context_retention": "24h",
                               "max_context_size": 32768, "rate_limits": {"requests_per_minute": 60, "tokens_per_day": 1000000}},
             "mcpConfig": {"protocol_version": "1.0", "supported_features": ["tools"], "endpoints": {"tools": "https://mcp.example.com/tools"},
                           "security": {"require_auth": true, "allowed_origins": ["https://trusted-client.com"]}},
             "surprise": 1, "somethingUnknown": 2}
            """
        let parsed = try ClientJSON.parse(Data(text.utf8))
        #expect(parsed.client.appType == "ai-agent")
        #expect(parsed.client.accessTokenLifetime == 600)
        #expect(parsed.client.hasRotateRefreshToken && parsed.client.rotateRefreshToken == false)
        #expect(parsed.client.agentConfig.rateLimits.tokensPerDay == 1_000_000)
        #expect(parsed.client.agentConfig.contextRetention == "24h")
        #expect(parsed.client.mcpConfig.endpoints["tools"] == "https://mcp.example.com/tools")
        #expect(parsed.client.mcpConfig.security.allowedOrigins == ["https://trusted-client.com"])
        // Reported as the file spells them.
        #expect(parsed.unknownKeys.sorted() == ["somethingUnknown", "surprise"])
        #expect(
            Set(parsed.fields).isSuperset(of: [
                "name", "app_type", "access_token_lifetime", "agent_config.rate_limits.tokens_per_day",
                "mcp_config.endpoints", "mcp_config.security.allowed_origins",
            ]))
    }

    @Test(arguments: [
        (#"{"name": 5}"#, "name"),
        (#"{"grant_types": "client_credentials"}"#, "grant_types"),
        (#"{"access_token_lifetime": "soon"}"#, "access_token_lifetime"),
        (#"{"access_token_lifetime": true}"#, "access_token_lifetime"),
        (#"{"rotate_refresh_token": 1}"#, "rotate_refresh_token"),
        (#"{"agent_config": {"max_context_size": "big"}}"#, "agent_config.max_context_size"),
        (#"{"aiAgentConfig": {"rateLimits": {"tokensPerDay": 1.5}}}"#, "agent_config.rate_limits.tokens_per_day"),
        (#"{"mcp_config": {"endpoints": {"tools": 5}}}"#, "mcp_config.endpoints.tools"),
        (#"{"mcpConfig": {"security": {"allowedOrigins": [1]}}}"#, "mcp_config.security.allowed_origins"),
        (#"{"agent_config": "task"}"#, "agent_config"),
        (#"{"token_config": {"id_token_lifetime": [60]}}"#, "id_token_lifetime"),
        (#"{"token_config": 5}"#, "token_config"),
        (#"[1, 2]"#, "(document)"),
        (#"{not json"#, "(document)"),
    ])
    func typeErrorsNameTheField(text: String, field: String) {
        #expect {
            _ = try ClientJSON.parse(Data(text.utf8))
        } throws: { error in
            (error as? ClientJSON.FieldError)?.field == field
        }
    }

    @Test(arguments: [
        (#"{"name": 5}"#, "name: must be a string"),
        (#"{"grant_types": [1]}"#, "grant_types: must be an array of strings"),
        (#"{"access_token_lifetime": "soon"}"#, "access_token_lifetime: must be a whole number"),
        (#"{"disabled": "yes"}"#, "disabled: must be true or false"),
        (#"{"agent_config": {"rate_limits": []}}"#, "agent_config.rate_limits: must be an object"),
        (#"{"mcp_config": {"endpoints": [1]}}"#, "mcp_config.endpoints: must be an object of strings"),
    ])
    func typeErrorsSayWhatTheFieldNeeds(text: String, message: String) {
        #expect {
            _ = try ClientJSON.parse(Data(text.utf8))
        } throws: { error in
            (error as? ClientJSON.FieldError)?.description == message
        }
    }

    /// Two keys that name one field, at the top level (an alias, camelCase) or inside a message.
    @Test(arguments: [
        (
            #"{"callbacks": ["https://a.example/cb"], "redirect_uris": ["https://b.example/cb"]}"#, "callbacks",
            "redirect_uris"
        ),
        (#"{"allowedScopes": ["a"], "scope": "b"}"#, "allowedScopes", "scope"),
        (#"{"agentConfig": {}, "ai_agent_config": {}}"#, "agentConfig", "ai_agent_config"),
        (
            #"{"agent_config": {"agentType": "task", "agent_type": "task"}}"#, "agent_config.agentType",
            "agent_config.agent_type"
        ),
    ])
    func twoSpellingsOfOneKeyNameBoth(text: String, first: String, second: String) {
        #expect {
            _ = try ClientJSON.parse(Data(text.utf8))
        } throws: { error in
            (error as? ClientJSON.FieldError)?.description
                == "\(first): and '\(second)' are two spellings of one field; give one"
        }
    }

    /// The product page shows the agent's settings at the top level of its object.
    @Test func agentFieldsAtTheTopLevelJoinTheAgentObject() throws {
        let text = """
            {"name": "Assistant", "agent_type": "task", "capabilities": ["api_integration"],
             "contextRetention": "1h", "max_context_size": 4096,
             "rate_limits": {"requests_per_minute": 60, "tokens_per_day": 1000}}
            """
        let parsed = try ClientJSON.parse(Data(text.utf8))
        #expect(parsed.client.agentConfig.agentType == "task")
        #expect(parsed.client.agentConfig.capabilities == ["api_integration"])
        #expect(parsed.client.agentConfig.contextRetention == "1h")
        #expect(parsed.client.agentConfig.maxContextSize == 4096)
        #expect(parsed.client.agentConfig.rateLimits.requestsPerMinute == 60)
        #expect(
            parsed.fields == [
                "agent_config.agent_type", "agent_config.capabilities", "agent_config.context_retention",
                "agent_config.max_context_size", "agent_config.rate_limits.requests_per_minute",
                "agent_config.rate_limits.tokens_per_day", "name",
            ])
        #expect(parsed.unknownKeys.isEmpty)
        // Beside a grouping object, fields join it; one given in both places is refused.
        let mixed = try ClientJSON.parse(
            Data(#"{"name": "A", "aiAgentConfig": {"agent_type": "task"}, "capabilities": ["x"]}"#.utf8))
        #expect(mixed.client.agentConfig.agentType == "task" && mixed.client.agentConfig.capabilities == ["x"])
        #expect(throws: ClientJSON.FieldError.self) {
            try ClientJSON.parse(
                Data(#"{"name": "A", "agent_config": {"agent_type": "task"}, "agentType": "analytical"}"#.utf8))
        }
    }

    @Test func unknownKeysAreReportedAndLeftOut() throws {
        let text = #"""
            {"name": "Agent", "surprise": 1, "client_secret": "x", "agent_config": {"mood": "calm", "agentType": "task"},
             "mcp_config": {"security": {"allowedOrigins": ["https://a.example"], "fence": true}}}
            """#
        let parsed = try ClientJSON.parse(Data(text.utf8))
        #expect(
            parsed.unknownKeys.sorted() == [
                "agent_config.mood", "client_secret", "mcp_config.security.fence", "surprise",
            ])
        #expect(parsed.client.agentConfig.agentType == "task")
        // A message given as an object names the fields it gives: an update changes just those.
        #expect(
            parsed.fields == [
                "agent_config.agent_type", "mcp_config.security.allowed_origins", "mcp_config.security.require_auth",
                "name",
            ])
        // A file's security without require_auth asks for it, as the seed page's default.
        #expect(parsed.client.mcpConfig.security.hasRequireAuth && parsed.client.mcpConfig.security.requireAuth)
    }

    @Test func seedValueFormsAndServerSetFields() throws {
        let text = #"""
            {"client_id": "ignored", "created_at": 1, "is_confidential": true, "scope": "openid  ai:access",
             "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]},
             "agent_config": {"context_retention": 3600}, "require_pkce": false, "accessTokenLifetime": "600"}
            """#
        let parsed = try ClientJSON.parse(Data(text.utf8))
        #expect(parsed.client.allowedScopes == ["openid", "ai:access"])
        #expect(parsed.client.jwks == #"{"keys":[{"crv":"P-256","kty":"EC","x":"a","y":"b"}]}"#)
        #expect(parsed.client.agentConfig.contextRetention == "3600s")
        #expect(parsed.client.hasRequireProofKeyForCodeExchange && !parsed.client.requireProofKeyForCodeExchange)
        #expect(parsed.client.accessTokenLifetime == 600)
        #expect(
            parsed.fields == [
                "access_token_lifetime", "agent_config.context_retention", "allowed_scopes", "jwks",
                "require_proof_key_for_code_exchange",
            ])
        #expect(parsed.unknownKeys.isEmpty)
    }

    /// Every top-level field prints, empty ones too; jwks prints as the object it holds; what is
    /// printed reads back as the same client.
    @Test func theOutputReadsBackAsTheSameClient() throws {
        var client = Authsec_V1_Client()
        client.clientID = "c1"
        client.name = "Agent"
        client.appType = "ai_agent"
        client.grantTypes = ["client_credentials"]
        client.tokenEndpointAuthMethod = "private_key_jwt"
        client.jwks = #"{"keys":[{"crv":"P-256","kty":"EC","x":"a","y":"b"}]}"#
        client.accessTokenLifetime = 3600
        client.rotateRefreshToken = true
        client.requireProofKeyForCodeExchange = false
        // The server sets every optional flag; an unset one would print as false and read back set.
        client.requirePushedAuthorizationRequests = false
        client.disabled = false
        client.isConfidential = true
        client.createdAt = 1_764_000_000
        client.agentConfig.maxContextSize = 9_007_199_254_740_993
        client.mcpConfig.endpoints = ["tools": "https://mcp.example.com/tools"]
        client.mcpConfig.security.requireAuth = false
        let object = ClientJSON.object(client)
        #expect(object["description"] as? String == "")
        #expect(object["callbacks"] as? [Any] != nil && object["updated_at"] as? Int == 0)
        #expect(object["require_proof_key_for_code_exchange"] as? Bool == false)
        #expect(object["is_confidential"] as? Bool == true)
        #expect((object["jwks"] as? [String: Any])?["keys"] != nil)
        let text = ClientJSON.text(object)
        #expect(text.contains(#""max_context_size" : 9007199254740993"#))
        let parsed = try ClientJSON.parse(Data(text.utf8))
        #expect(parsed.client == client)
        #expect(parsed.unknownKeys.isEmpty)
        #expect(!parsed.fields.contains("client_id") && !parsed.fields.contains("created_at"))
        // Nothing set, nothing printed but the empty top-level fields.
        #expect(ClientJSON.object(Authsec_V1_Client())["jwks"] == nil)
    }
}
