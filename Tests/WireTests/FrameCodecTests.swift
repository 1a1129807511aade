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
                "name", "app_type", "access_token_lifetime", "agent_config", "mcp_config",
            ]))
    }

    @Test(arguments: [
        (#"{"name": 5}"#, "name"),
        (#"{"grant_types": "client_credentials"}"#, "grant_types"),
        (#"{"access_token_lifetime": "soon"}"#, "access_token_lifetime"),
        (#"{"access_token_lifetime": true}"#, "access_token_lifetime"),
        (#"{"rotate_refresh_token": 1}"#, "rotate_refresh_token"),
        (#"{"agent_config": {"max_context_size": "big"}}"#, "agent_config.max_context_size"),
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
}
