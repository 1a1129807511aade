import Testing

@testable import ClientModel

@Suite struct ClientFieldsTests {
    @Test func everyFieldHasItsNameByNumber() {
        #expect(Set(Authsec_V1_Client.namesByNumber.values) == Authsec_V1_Client.allFields)
    }

    @Test func fieldsWithValuesNamesTheSetOnesOnly() {
        var client = Authsec_V1_Client()
        #expect(client.fieldsWithValues.isEmpty)
        client.name = "n"
        client.allowedScopes = ["a"]
        client.agentConfig.agentType = "task"
        client.rotateRefreshToken = false  // presence is tracked: set, though false
        #expect(client.fieldsWithValues == ["name", "allowed_scopes", "agent_config", "rotate_refresh_token"])
    }
}
