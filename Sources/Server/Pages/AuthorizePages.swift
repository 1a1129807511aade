import Authority
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The authorization endpoint and the pages a person goes through: `/authorize` (GET and POST),
/// the sign-in and consent forms, and the error page. Every decision is Authority's; this type
/// renders, reads forms and cookies, and redirects.
///
/// Flow: `/authorize` checks the request, then shows sign-in or consent, or redirects with a code.
/// The forms POST to `/authorize/sign-in` and `/authorize/consent`, which answer 303: on to
/// `/authorize/continue` (the same checked request, sealed) or back to the client.
struct AuthorizePages: Sendable {
    let authority: AuthorityCell
    let logger: Logger
    let maxBodySize: Int
    let templates = PageTemplates()
    let secrets = PageSecrets()

    static let sessionCookie = "authsec_session"
    static let csrfCookie = "authsec_csrf"

    func register(on router: Router<DoorRequestContext>) {
        router.get("/authorize") { request, context in
            await start(FormBody.parameters(request.uri.query ?? ""), request, context, method: .get)
        }
        router.post("/authorize") { request, context in
            guard let form = await form(request) else { return badForm() }
            return await start(form, request, context, method: .post)
        }
        router.get("/authorize/continue") { request, context in
            let query = FormBody.parameters(request.uri.query ?? "")
            return await resume(query, request, context)
        }
        router.post("/authorize/sign-in") { request, context in
            await signIn(request, context)
        }
        router.post("/authorize/consent") { request, context in
            await consent(request, context)
        }
        registerDevice(on: router)
        router.get("/logout") { request, _ in
            await logout(FormBody.parameters(request.uri.query ?? ""), request, method: .get)
        }
        router.post("/logout") { request, _ in
            guard let form = await form(request) else { return badForm() }
            return await logout(form, request, method: .post)
        }
    }

    // MARK: - /logout

    /// OpenID RP-Initiated Logout: ends the session, then redirects to a registered
    /// `post_logout_redirect_uri` or shows the signed-out page.
    func logout(
        _ parameters: Result<[(name: String, value: String)], AuthorityError>, _ request: Request,
        method: HTTPRequest.Method
    ) async -> Response {
        guard let authority = authority.value else { return starting() }
        do {
            let parameters = try parameters.get()
            let redirectTo = try await authority.endSession(
                cookie: request.cookies[Self.sessionCookie]?.value, idTokenHint: value("id_token_hint", parameters),
                clientID: value("client_id", parameters),
                postLogoutRedirectURI: value("post_logout_redirect_uri", parameters),
                state: value("state", parameters))
            var response =
                redirectTo.map { redirect(to: $0, after: method) }
                ?? html(.ok, templates.render("signed-out", ["title": "Signed out"]))
            response.setCookie(
                Cookie(
                    name: Self.sessionCookie, value: "", maxAge: 0, path: "/", secure: isSecure(authority),
                    httpOnly: true, sameSite: .lax))
            return response
        } catch {
            return failurePage(error)
        }
    }

    // MARK: - /authorize

    func start(
        _ parameters: Result<[(name: String, value: String)], AuthorityError>, _ request: Request,
        _ context: DoorRequestContext, method: HTTPRequest.Method
    ) async -> Response {
        guard let authority = authority.value else { return starting() }
        let checked: Authorization
        do {
            let parameters = try parameters.get()
            let browser = AuthorizationRequest(parameters: parameters)
            if let clientID = try browser.single("client_id"), Authority.isClientDocumentURL(clientID) {
                // A client known by its metadata document is fetched (or found fresh) first.
                try await authority.loadClientDocument(clientID)
            }
            if let requestURI = try browser.single("request_uri") {
                // RFC 9126 §4: the pushed parameters, and only them, once.
                let pushed = try await authority.takePushedRequest(
                    requestURI, clientID: try browser.single("client_id"))
                checked = try authority.checkAuthorization(pushed, pushed: true)
            } else {
                checked = try authority.checkAuthorization(browser)
            }
        } catch let refusal as AuthorizationRefusal {
            switch refusal {
            case .page(let error):
                return errorPage(error)
            case .redirect(let error, let redirectURI, let state):
                return redirect(
                    to: AuthorizationResponse.url(
                        redirectURI,
                        [
                            ("error", error.code.rawValue), ("error_description", error.description), ("state", state),
                            ("iss", authority.issuer),
                        ]), after: method)
            }
        } catch {
            // A query that does not parse names no client to trust: a page.
            return errorPage(
                error as? AuthorityError ?? AuthorityError(.invalidRequest, "the request could not be read"))
        }
        return await proceed(checked, authority, request, method: method)
    }

    /// Shows the page the request needs next, or issues the code.
    func proceed(
        _ checked: Authorization, _ authority: Authority, _ request: Request, method: HTTPRequest.Method,
        failedSignIn: Bool = false
    ) async -> Response {
        do {
            let session = try authority.session(cookie: request.cookies[Self.sessionCookie]?.value)
            switch try authority.nextStep(checked, session: session) {
            case .signIn:
                return try signInPage(checked, authority, request, failed: failedSignIn)
            case .consent(let scopes):
                return try consentPage(checked, scopes: scopes, session: session!, authority, request)
            case .issue:
                let url = try await authority.issueCode(checked, session: session!, consented: false)
                return redirect(to: url, after: method)
            }
        } catch let error as AuthorityError where error.code == .loginRequired || error.code == .consentRequired {
            return redirect(to: authority.refusal(error, for: checked), after: method)
        } catch {
            return failurePage(error)
        }
    }

    func resume(
        _ query: Result<[(name: String, value: String)], AuthorityError>, _ request: Request,
        _ context: DoorRequestContext
    ) async -> Response {
        guard let authority = authority.value else { return starting() }
        let parameters = (try? query.get()) ?? []
        guard let checked = openFlow(parameters.first { $0.name == "flow" }?.value, authority) else {
            return expiredPage()
        }
        return await proceed(
            checked, authority, request, method: .get, failedSignIn: parameters.contains { $0.name == "failed" })
    }

    // MARK: - Forms

    func signIn(_ request: Request, _ context: DoorRequestContext) async -> Response {
        guard let authority = authority.value else { return starting() }
        guard let form = try? await form(request)?.get() else { return badForm() }
        guard secrets.isValid(csrf: value("csrf", form), cookie: request.cookies[Self.csrfCookie]?.value) else {
            return csrfFailure()
        }
        // The device page's sign-in carries the user code instead of a sealed authorization.
        if value("flow", form) == nil, let userCode = value("user_code", form) {
            return await signInForDevice(userCode: userCode, form, authority, context)
        }
        guard var checked = openFlow(value("flow", form), authority) else { return expiredPage() }
        do {
            let (cookie, _) = try await authority.signIn(
                username: value("username", form) ?? "", password: value("password", form) ?? "",
                context: context.call)
            // Signed in during this flow: prompt=login and max_age are satisfied.
            checked.requiresSignIn = false
            checked.maxAge = nil
            var response = redirect(to: continueURL(checked), after: .post)
            response.setCookie(sessionCookie(cookie, authority))
            return response
        } catch let error as AuthorityError where error.code == AuthorityError.invalidCredentials.code {
            // The sign-in page again, the username kept so only the password is typed again.
            checked.loginHint = value("username", form).map { String($0.prefix(256)) }
            return redirect(to: continueURL(checked) + "&failed=1", after: .post)
        } catch {
            return failurePage(error)
        }
    }

    func consent(_ request: Request, _ context: DoorRequestContext) async -> Response {
        guard let authority = authority.value else { return starting() }
        guard let form = try? await form(request)?.get() else { return badForm() }
        guard secrets.isValid(csrf: value("csrf", form), cookie: request.cookies[Self.csrfCookie]?.value) else {
            return csrfFailure()
        }
        guard let checked = openFlow(value("flow", form), authority) else { return expiredPage() }
        do {
            guard let session = try authority.session(cookie: request.cookies[Self.sessionCookie]?.value) else {
                // Signed out (or the session ended) between the pages: sign in first.
                return redirect(to: continueURL(checked), after: .post)
            }
            guard value("decision", form) == "allow" else {
                authority.noteConsent(checked, session: session, allowed: false, context: context.call)
                return redirect(
                    to: authority.refusal(
                        AuthorityError(.accessDenied, "the user denied the request"), for: checked), after: .post)
            }
            let url = try await authority.issueCode(checked, session: session, consented: true)
            authority.noteConsent(checked, session: session, allowed: true, context: context.call)
            return redirect(to: url, after: .post)
        } catch {
            return failurePage(error)
        }
    }

    // MARK: - Pages

    func signInPage(_ checked: Authorization, _ authority: Authority, _ request: Request, failed: Bool) throws
        -> Response
    {
        let client = try authority.registeredClient(checked.clientID)
        var values: [String: Any] = ["title": "Sign in", "flow": secrets.seal(checked)]
        values["clientName"] = client.map { $0.name.isEmpty ? $0.clientID : $0.name }
        values["username"] = checked.loginHint ?? ""
        if failed {
            values["error"] = AuthorityError.invalidCredentials.description
            // The username was kept: the password is what to type again.
            values["focusPassword"] = !(checked.loginHint ?? "").isEmpty
        }
        return formPage("sign-in", values, request, authority)
    }

    func consentPage(
        _ checked: Authorization, scopes: [String], session: BrowserSession, _ authority: Authority,
        _ request: Request
    ) throws -> Response {
        guard let client = try authority.registeredClient(checked.clientID) else {
            throw AuthorityError(.invalidClient, "the client is unknown or disabled")
        }
        let user = try? authority.user(session.sub)
        var values: [String: Any] = [
            "title": "Allow access", "flow": secrets.seal(checked),
            "clientName": client.name.isEmpty ? client.clientID : client.name,
            "username": user?.username ?? session.sub,
            "redirectHost": URLComponents(string: checked.redirectURI)?.host ?? checked.redirectURI,
            "hasScopes": !scopes.isEmpty,
            "scopes": try scopeRows(scopes, authority),
        ]
        if Authority.isClientDocumentURL(client.clientID) {
            // Self-described (a metadata document): say where the description came from.
            values["documentHost"] = URLComponents(string: client.clientID)?.host ?? client.clientID
        }
        if Self.isWebURL(client.logo) { values["logo"] = client.logo }
        if Self.isWebURL(client.website) {
            values["website"] = client.website
            values["websiteHost"] = URLComponents(string: client.website)?.host ?? client.website
        }
        return formPage("consent", values, request, authority)
    }

    /// Each scope with its registered description (or OpenID's), for a consent page.
    func scopeRows(_ scopes: [String], _ authority: Authority) throws -> [[String: String]] {
        let registered = Dictionary(
            try authority.listScopes().map { ($0.name, $0.description) }, uniquingKeysWith: { first, _ in first })
        return scopes.map { ["name": $0, "description": registered[$0] ?? Self.openIDScopes[$0] ?? ""] }
    }

    /// What the OpenID Connect scopes let a client know, for the consent page.
    static let openIDScopes = [
        "openid": "Know who you are (your user id)",
        "profile": "See your name and username",
        "email": "See your email address",
        "address": "See your address",
        "phone": "See your phone number",
        "offline_access": "Keep access while you are away",
    ]

    /// Only http(s) links and images: never `javascript:` or `data:` from a client's fields.
    static func isWebURL(_ text: String) -> Bool {
        text.hasPrefix("https://") || text.hasPrefix("http://")
    }

    /// A page with a form: the CSRF cookie is set if the browser has none.
    func formPage(_ page: String, _ values: [String: Any], _ request: Request, _ authority: Authority)
        -> Response
    {
        var values = values
        var newCookie: String?
        let cookie: String
        if let existing = request.cookies[Self.csrfCookie]?.value, (16...128).contains(existing.utf8.count) {
            cookie = existing
        } else {
            cookie = Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
            newCookie = cookie
        }
        values["csrf"] = secrets.csrfToken(for: cookie)
        var response = html(.ok, templates.render(page, values))
        if let newCookie {
            response.setCookie(
                Cookie(
                    name: Self.csrfCookie, value: newCookie, path: "/", secure: isSecure(authority), httpOnly: true,
                    sameSite: .lax))
        }
        return response
    }

    func errorPage(_ error: AuthorityError, status: HTTPResponse.Status = .badRequest) -> Response {
        let title =
            switch error.code {
            case .invalidClient: "Unknown application"
            case .serverError, .storageFull, .temporarilyUnavailable: "Something went wrong"
            default: "This request cannot be completed"
            }
        let status = error.code == .serverError || error.code == .storageFull ? .internalServerError : status
        return html(
            error.code == .temporarilyUnavailable ? .serviceUnavailable : status,
            templates.render("error", ["title": title, "message": error.description, "code": error.code.rawValue]))
    }

    /// An error while a page was being made: the person sees a page, never a redirect.
    func failurePage(_ error: any Error) -> Response {
        guard let failure = error as? AuthorityError else {
            logger.error("page failed", metadata: ["error": "\(error)"])
            return errorPage(AuthorityError(.serverError, "internal error"))
        }
        if failure.code == .serverError || failure.code == .storageFull {
            logger.error(
                "page failed", metadata: ["code": "\(failure.code.rawValue)", "detail": "\(failure.detail ?? "")"])
        }
        return errorPage(failure)
    }

    func expiredPage() -> Response {
        errorPage(
            AuthorityError(
                .invalidRequest, "This page has expired. Go back to the application and sign in again."))
    }

    func csrfFailure() -> Response {
        errorPage(
            AuthorityError(
                .accessDenied,
                "The form was not sent from this site's own page, or it has expired. Go back to the application and try again."
            ), status: .forbidden)
    }

    func badForm() -> Response {
        errorPage(AuthorityError(.invalidRequest, "the form could not be read"))
    }

    func starting() -> Response {
        errorPage(AuthorityError(.temporarilyUnavailable, "the server is starting; try again in a moment"))
    }

    // MARK: - HTTP

    func openFlow(_ text: String?, _ authority: Authority) -> Authorization? {
        guard let checked = secrets.open(text), authority.isCurrent(checked) else { return nil }
        return checked
    }

    func continueURL(_ checked: Authorization) -> String {
        "/authorize/continue?flow=" + secrets.seal(checked)
    }

    func sessionCookie(_ value: String, _ authority: Authority) -> Cookie {
        Cookie(
            name: Self.sessionCookie, value: value, maxAge: Int(Authority.sessionLifetime), path: "/",
            secure: isSecure(authority), httpOnly: true, sameSite: .lax)
    }

    func isSecure(_ authority: Authority) -> Bool { authority.issuer.hasPrefix("https://") }

    func form(_ request: Request) async -> Result<[(name: String, value: String)], AuthorityError>? {
        guard let contentType = request.headers[.contentType], HTTPShim.isForm(contentType.utf8) else { return nil }
        guard let buffer = try? await request.body.collect(upTo: maxBodySize) else { return nil }
        return FormBody.parameters(String(buffer: buffer))
    }

    func value(_ name: String, _ form: [(name: String, value: String)]) -> String? {
        guard let value = form.first(where: { $0.name == name })?.value, !value.isEmpty else { return nil }
        return value
    }

    /// 302 after a GET, 303 after a POST (the browser then GETs the target).
    func redirect(to url: String, after method: HTTPRequest.Method) -> Response {
        var headers = Self.pageHeaders
        headers[.location] = url
        return Response(status: method == .post ? .seeOther : .found, headers: headers)
    }

    func html(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = Self.pageHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// Never framed (clickjacking), never cached, no referrer leaking a flow to a logo's host, and
    /// nothing loaded but the page itself and a client's logo.
    static let pageHeaders: HTTPFields = {
        var headers = HTTPFields()
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; frame-ancestors 'none'; base-uri 'none'"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return headers
    }()
}
