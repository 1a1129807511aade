import Authority
import Testing

@testable import Server

/// Form bodies as OAuth clients send them, and the malformed ones they must not get away with.
@Suite struct FormBodyTests {
    @Test func decodesPercentEscapesAndPlusSigns() throws {
        let form = try FormBody(
            "grant_type=client_credentials&scope=a%3Aread+b%2Bc&resource=https%3A%2F%2Fx&resource=y&empty=")
        #expect(form["grant_type"] == "client_credentials")
        #expect(form["scope"] == "a:read b+c")
        #expect(form.all("resource") == ["https://x", "y"])
        #expect(form["empty"] == nil)
        #expect(form["missing"] == nil)
        #expect(try FormBody("name=%C3%A9t%C3%A9")["name"] == "été")
    }

    @Test func refusesMalformedOrRepeatedParameters() {
        for body in [
            "scope=a&scope=b", "token=%zz", "token=%4", "token=%FF%FE",
            (0...FormBody.maxParameters).map { "p\($0)=1" }.joined(separator: "&"),
        ] {
            #expect(throws: AuthorityError.self, "\(body.prefix(40))") { try FormBody(body) }
        }
    }
}
