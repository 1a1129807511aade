extension Authsec_V1_Request {
    /// A request carrying `call`, authenticated by `authorization` (`Basic …` or `Bearer …`).
    public init(authorization: String, call: OneOf_Call) {
        self.init()
        self.authorization = authorization
        self.call = call
    }

    /// The audience of management tokens (the server's `ServerInfoResponse.management_audience`).
    public static let managementAudience = "urn:authsec:management"

    /// A client-credentials token call (RFC 6749 §4.4); an empty scope asks for every allowed scope.
    public static func clientCredentials(authorization: String, scope: String = "", audience: [String] = []) -> Self {
        var token = Authsec_V1_TokenRequest()
        token.grantType = "client_credentials"
        token.scope = scope
        token.audience = audience
        return Self(authorization: authorization, call: .token(token))
    }

    /// A token for management calls: client credentials for the management audience.
    public static func managementToken(authorization: String) -> Self {
        clientCredentials(authorization: authorization, audience: [managementAudience])
    }
}
