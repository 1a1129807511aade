extension Authsec_V1_Request {
    /// A request carrying `call`, authenticated by `authorization` (`Basic …` or `Bearer …`).
    public init(authorization: String, call: OneOf_Call) {
        self.init()
        self.authorization = authorization
        self.call = call
    }

    /// A client-credentials token call (RFC 6749 §4.4); an empty scope asks for every allowed scope.
    public static func clientCredentials(authorization: String, scope: String = "") -> Self {
        var token = Authsec_V1_TokenRequest()
        token.grantType = "client_credentials"
        token.scope = scope
        return Self(authorization: authorization, call: .token(token))
    }
}
