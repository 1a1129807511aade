import Authority
import Hummingbird

/// CORS (the Fetch standard's protocol) for browser applications: the endpoints such an
/// application calls answer an `Origin` that some client lists in `web_origins` — never `*`, never
/// another origin, and never on `/authorize` or the pages, which a browser navigates to instead.
/// Preflights (`OPTIONS` with `Access-Control-Request-Method`) are answered here.
///
/// Requests with an `Origin` header skip the HTTP fast path (`HTTPRequestScanner`), so every
/// answer to a browser passes through this middleware.
struct CORSMiddleware: RouterMiddleware {
    typealias Context = DoorRequestContext
    let authority: AuthorityCell

    /// The endpoints a single-page or native-web application calls with `fetch`.
    static let paths: Set<String> = [
        "/oauth/token", "/oauth/revoke", "/userinfo", "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration",
    ]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let origin = request.headers[.origin], Self.paths.contains(request.uri.path) else {
            return try await next(request, context)
        }
        let allowed = (try? authority.value?.isRegisteredWebOrigin(origin)) == true
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers = HTTPFields()
            headers[.vary] = "Origin"
            if allowed {
                headers[.accessControlAllowOrigin] = origin
                headers[.accessControlAllowMethods] = "GET, POST"
                headers[.accessControlAllowHeaders] = "Authorization, Content-Type, DPoP"
                headers[.accessControlMaxAge] = "600"
            }
            return Response(status: allowed ? .noContent : .forbidden, headers: headers)
        }
        var response = try await next(request, context)
        response.headers[.vary] = "Origin"
        if allowed { response.headers[.accessControlAllowOrigin] = origin }
        return response
    }
}
