import Authority
import Foundation
import Hummingbird

/// The device flow's page (RFC 8628 §3.3): `/device` takes the user code (typed, or from
/// `verification_uri_complete`), signs the person in, and asks them to allow the device.
extension AuthorizePages {
    func registerDevice(on router: Router<DoorRequestContext>) {
        router.get("/device") { request, _ in
            await devicePage(FormBody.parameters(request.uri.query ?? ""), request)
        }
        router.post("/device/approve") { request, context in
            await approveDevice(request, context)
        }
    }

    private func devicePage(_ query: Result<[(name: String, value: String)], AuthorityError>, _ request: Request)
        async -> Response
    {
        guard let authority = authority.value else { return starting() }
        let parameters = (try? query.get()) ?? []
        if let done = value("done", parameters) {
            let approved = done == "approved"
            return html(
                .ok,
                templates.render(
                    "device-done",
                    [
                        "title": approved ? "Device connected" : "Device not connected",
                        "message": approved
                            ? "You can return to your device; it will continue on its own."
                            : "The device was not given access. You can close this window.",
                    ]))
        }
        guard let userCode = value("user_code", parameters) else {
            let failed = value("failed", parameters) != nil
            return html(
                .ok,
                templates.render(
                    "device",
                    ["title": "Connect a device", "userCode": "", "error": failed ? Self.wrongCode : false]))
        }
        do {
            let device = try authority.deviceRequest(userCode: userCode)
            guard let session = try authority.session(cookie: request.cookies[Self.sessionCookie]?.value) else {
                var values: [String: Any] = [
                    "title": "Sign in", "userCode": device.userCode,
                    "clientName": device.client.name.isEmpty ? device.client.clientID : device.client.name,
                ]
                if value("failed", parameters) != nil {
                    values["error"] = AuthorityError.invalidCredentials.description
                }
                return formPage("sign-in", values, request, authority)
            }
            let user = try? authority.user(session.sub)
            return formPage(
                "device-approve",
                [
                    "title": "Allow this device", "userCode": device.userCode,
                    "clientName": device.client.name.isEmpty ? device.client.clientID : device.client.name,
                    "username": user?.username ?? session.sub, "hasScopes": !device.scopes.isEmpty,
                    "scopes": try scopeRows(device.scopes, authority),
                ], request, authority)
        } catch let error as AuthorityError where error.code == .invalidGrant {
            return html(
                .badRequest,
                templates.render(
                    "device", ["title": "Connect a device", "userCode": userCode, "error": error.description]))
        } catch {
            return failurePage(error)
        }
    }

    static let wrongCode = "That code is wrong, has expired or was already used."

    func signInForDevice(
        userCode: String, _ form: [(name: String, value: String)], _ authority: Authority, _ context: DoorRequestContext
    ) async -> Response {
        let back = "/device?user_code=" + AuthorizationResponse.percentEncoded(userCode)
        do {
            let (cookie, _) = try await authority.signIn(
                username: value("username", form) ?? "", password: value("password", form) ?? "",
                context: context.call)
            var response = redirect(to: back, after: .post)
            response.setCookie(sessionCookie(cookie, authority))
            return response
        } catch let error as AuthorityError where error.code == AuthorityError.invalidCredentials.code {
            return redirect(to: back + "&failed=1", after: .post)
        } catch {
            return failurePage(error)
        }
    }

    private func approveDevice(_ request: Request, _ context: DoorRequestContext) async -> Response {
        guard let authority = authority.value else { return starting() }
        guard let form = try? await form(request)?.get() else { return badForm() }
        guard secrets.isValid(csrf: value("csrf", form), cookie: request.cookies[Self.csrfCookie]?.value) else {
            return csrfFailure()
        }
        let userCode = value("user_code", form) ?? ""
        do {
            guard let session = try authority.session(cookie: request.cookies[Self.sessionCookie]?.value) else {
                return redirect(to: "/device?user_code=" + AuthorizationResponse.percentEncoded(userCode), after: .post)
            }
            let approve = value("decision", form) == "allow"
            try await authority.answerDevice(
                userCode: userCode, session: session, approve: approve, context: context.call)
            return redirect(to: "/device?done=" + (approve ? "approved" : "denied"), after: .post)
        } catch let error as AuthorityError where error.code == .invalidGrant {
            return redirect(to: "/device?failed=1", after: .post)
        } catch {
            return failurePage(error)
        }
    }
}
