"""People: a person signs in through Authsec's own pages, driven over HTTP form posts, while a
stock OAuth client (Authlib's OAuth2Session) runs the authorization code flow with PKCE, then
refreshes with rotation; PyJWT validates the ID token against the published JWKS. Every bad
input the issue lists is sent and its error checked.

Run with the rest: `bash Tests/Interop/python/run.sh`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from test_interop import HTTP_TIMEOUT, launch, verify_access_token

CALLBACK = "https://myapp.com/callback"
PASSWORD = "correct horse battery staple"

# The product page's web client, as its management-API body is written.
WEB_CLIENT = {
    "name": "My Web App",
    "app_type": "web",
    "logo": "https://myapp.com/logo.png",
    "website": "https://myapp.com",
    "callbacks": [CALLBACK, "https://myapp.com/auth/callback", "https://myapp.com/silent-auth"],
    "web_origins": ["https://myapp.com", "https://admin.myapp.com"],
    "logout_urls": ["https://myapp.com/logout"],
    "allowed_scopes": ["openid", "profile", "email", "ai:access"],
    "require_proof_key_for_code_exchange": True,
    "token_endpoint_auth_method": "client_secret_post",
    "refresh_token_lifetime": 2592000,
    "rotate_refresh_token": True,
}

# A mobile client: public (token_endpoint_auth_method none by its type), a loopback redirect.
MOBILE_CLIENT = {
    "name": "My Mobile App",
    "app_type": "mobile",
    "callbacks": ["http://127.0.0.1/callback", "com.myapp:/oauth2redirect"],
    "allowed_scopes": ["openid", "profile", "ai:access"],
}


class Forms(HTMLParser):
    """The forms of a page: action, method and their inputs' names and values."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action"), "method": attrs.get("method"), "fields": {}})
        elif tag in ("input", "button") and self.forms and attrs.get("name"):
            self.forms[-1]["fields"].setdefault(attrs["name"], attrs.get("value", ""))


def page_form(html: str) -> dict:
    parser = Forms()
    parser.feed(html)
    assert len(parser.forms) == 1, html
    return parser.forms[0]


class Browser:
    """A person's browser: keeps cookies, follows the server's own redirects, and stops at the
    client's callback (which, in a real app, the client would serve)."""

    def __init__(self, server):
        self.server = server
        self.http = requests.Session()

    def get(self, url: str) -> requests.Response:
        return self.http.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)

    def post(self, path: str, fields: dict) -> requests.Response:
        return self.http.post(self.server.url(path), data=fields, allow_redirects=False, timeout=HTTP_TIMEOUT)

    def follow(self, resp: requests.Response) -> requests.Response:
        """Follows redirects that stay on the server; returns the first page or off-server redirect."""
        while resp.status_code in (302, 303) and resp.headers["Location"].startswith("/"):
            resp = self.get(self.server.url(resp.headers["Location"]))
        return resp

    def sign_in(self, page: requests.Response, username: str, password: str) -> requests.Response:
        form = page_form(page.text)
        assert form["action"] == "/authorize/sign-in"
        fields = dict(form["fields"], username=username, password=password)
        resp = self.post(form["action"], fields)
        assert resp.status_code == 303
        return self.follow(resp)

    def consent(self, page: requests.Response, decision: str = "allow") -> requests.Response:
        form = page_form(page.text)
        assert form["action"] == "/authorize/consent"
        resp = self.post(form["action"], dict(form["fields"], decision=decision))
        assert resp.status_code == 303
        return resp


def callback_parameters(resp: requests.Response, redirect_uri: str = CALLBACK) -> dict:
    assert resp.status_code in (302, 303), resp.text
    location = resp.headers["Location"]
    assert location.startswith(redirect_uri + "?"), location
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


@pytest.fixture(scope="module")
def server():
    with launch() as srv:
        srv.cli("scopes", "create", "ai:access", "--description", "Access AI features")
        srv.cli_json("users", "create", "ada", "--email", "ada@example.com", "--name", "Ada Lovelace",
                     "--password-file", write_password(srv), "--json")
        yield srv


def write_password(server) -> str:
    path = server.workdir / "ada.pw"
    path.write_text(PASSWORD + "\n")
    return str(path)


def register(server, body: dict, name: str) -> dict:
    path = server.workdir / f"{name}.json"
    path.write_text(json.dumps(body))
    return server.cli_json("clients", "create", "--file", str(path), "--json")


@pytest.fixture(scope="module")
def web_client(server):
    return register(server, WEB_CLIENT, "web")


@pytest.fixture(scope="module")
def mobile_client(server):
    return register(server, MOBILE_CLIENT, "mobile")


@pytest.fixture(scope="module")
def metadata(server):
    return requests.get(server.url("/.well-known/openid-configuration"), timeout=HTTP_TIMEOUT).json()


@pytest.fixture(scope="module")
def jwks(metadata):
    return jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=False, timeout=HTTP_TIMEOUT)


def web_session(web_client, metadata, **kwargs) -> OAuth2Session:
    return OAuth2Session(
        web_client["client_id"], web_client["client_secret"], token_endpoint_auth_method="client_secret_post",
        redirect_uri=CALLBACK, scope="openid profile email ai:access", code_challenge_method="S256", **kwargs)


def authorize(browser: Browser, session: OAuth2Session, metadata: dict, verifier: str, **extra):
    url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce="n-" + secrets.token_hex(4), **extra)
    return browser.follow(browser.get(url)), state


def sign_in_and_consent(server, session, metadata, browser=None) -> tuple[dict, str, Browser]:
    browser = browser or Browser(server)
    verifier = secrets.token_urlsafe(48)
    page, state = authorize(browser, session, metadata, verifier)
    if "/authorize/sign-in" in page.text:
        page = browser.sign_in(page, "ada", PASSWORD)
    if "/authorize/consent" in page.text:
        page = browser.consent(page)
    params = callback_parameters(page)
    assert params["state"] == state
    assert params["iss"] == server.issuer
    return params, verifier, browser


# ---------------------------------------------------------------------------------------------
# The flow, end to end
# ---------------------------------------------------------------------------------------------


def test_discovery_documents_agree(server, metadata):
    oauth = requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=HTTP_TIMEOUT).json()
    assert oauth == metadata
    assert metadata["issuer"] == server.issuer and not metadata["issuer"].endswith("/")
    assert metadata["authorization_endpoint"] == server.issuer + "/authorize"
    assert metadata["userinfo_endpoint"] == server.issuer + "/userinfo"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert {"authorization_code", "refresh_token"} <= set(metadata["grant_types_supported"])
    assert "openid" in metadata["scopes_supported"]
    assert not any(s.startswith("admin:") for s in metadata["scopes_supported"])


def test_web_client_signs_a_person_in_and_refreshes_with_rotation(server, web_client, metadata, jwks):
    session = web_session(web_client, metadata)
    browser = Browser(server)
    verifier = secrets.token_urlsafe(48)
    page, state = authorize(browser, session, metadata, verifier)

    # The sign-in page: framed by no one, no third-party assets, a CSRF token.
    assert page.status_code == 200
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    assert "My Web App" in page.text
    assert page_form(page.text)["fields"]["csrf"]
    cookie = next(c for c in browser.http.cookies if c.name == "authsec_csrf")
    assert cookie.has_nonstandard_attr("HttpOnly")

    page = browser.sign_in(page, "ada", PASSWORD)
    session_cookie = next(c for c in browser.http.cookies if c.name == "authsec_session")
    assert session_cookie.has_nonstandard_attr("HttpOnly")
    # The consent page names the client and each scope with its registered description.
    assert "/authorize/consent" in page.text
    assert "Access AI features" in page.text and "ai:access" in page.text
    assert "myapp.com" in page.text
    params = callback_parameters(browser.consent(page))
    assert params["state"] == state and params["iss"] == server.issuer

    tokens = session.fetch_token(
        metadata["token_endpoint"], code=params["code"], code_verifier=verifier)
    assert tokens["token_type"] == "Bearer"
    assert set(tokens["scope"].split()) == {"openid", "profile", "email", "ai:access"}
    user = server.cli_json("users", "get", "ada", "--json")
    claims = verify_access_token(tokens["access_token"], jwks, server.issuer, server.issuer)
    assert claims["sub"] == user["sub"] and claims["client_id"] == web_client["client_id"]
    assert not any(s.startswith("admin:") for s in claims["scope"].split())

    # The ID token: PyJWT checks signature, issuer, audience; OpenID's claims are there.
    key = jwks.get_signing_key_from_jwt(tokens["id_token"])
    id_claims = jwt.decode(tokens["id_token"], key.key, algorithms=["ES256"], audience=web_client["client_id"],
                           issuer=server.issuer, options={"require": ["exp", "iat", "auth_time", "sub", "nonce"]})
    assert id_claims["sub"] == user["sub"]
    assert id_claims["azp"] == web_client["client_id"]
    assert id_claims["sid"]
    assert id_claims["preferred_username"] == "ada" and id_claims["email"] == "ada@example.com"
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()[:16]
    assert id_claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    # /userinfo, GET and POST, with the access token.
    info = requests.get(metadata["userinfo_endpoint"], timeout=HTTP_TIMEOUT,
                        headers={"Authorization": "Bearer " + tokens["access_token"]}).json()
    assert info == {"sub": user["sub"], "preferred_username": "ada", "name": "Ada Lovelace",
                    "updated_at": info["updated_at"], "email": "ada@example.com", "email_verified": False}
    posted = requests.post(metadata["userinfo_endpoint"], data={"access_token": tokens["access_token"]},
                           timeout=HTTP_TIMEOUT)
    assert posted.status_code == 200 and posted.json()["sub"] == user["sub"]

    # Refresh with rotation: a new refresh token each time; the old one is then reuse.
    first_refresh = tokens["refresh_token"]
    refreshed = session.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
    assert refreshed["refresh_token"] != first_refresh
    assert "id_token" not in refreshed  # OpenID Connect Core §12.2: the sign-in's ID token stands
    assert verify_access_token(refreshed["access_token"], jwks, server.issuer, server.issuer)["sub"] == user["sub"]
    narrowed = session.refresh_token(metadata["token_endpoint"], refresh_token=refreshed["refresh_token"],
                                     scope="ai:access")
    assert narrowed["scope"] == "ai:access"

    # A second authorization in the same browser: signed in and consented, so straight back.
    again = web_session(web_client, metadata)
    page, state = authorize(browser, again, metadata, secrets.token_urlsafe(48))
    assert callback_parameters(page)["state"] == state


def test_refresh_token_reuse_revokes_the_family(server, web_client, metadata):
    session = web_session(web_client, metadata)
    params, verifier, _ = sign_in_and_consent(server, session, metadata)
    tokens = session.fetch_token(metadata["token_endpoint"], code=params["code"], code_verifier=verifier)
    rotated = session.refresh_token(metadata["token_endpoint"], refresh_token=tokens["refresh_token"])
    with pytest.raises(OAuthError) as reuse:
        session.refresh_token(metadata["token_endpoint"], refresh_token=tokens["refresh_token"])
    assert reuse.value.error == "invalid_grant"
    # The whole family is gone: the newest refresh token and the access tokens too.
    with pytest.raises(OAuthError) as revoked:
        session.refresh_token(metadata["token_endpoint"], refresh_token=rotated["refresh_token"])
    assert revoked.value.error == "invalid_grant"
    introspected = requests.post(
        metadata["introspection_endpoint"], data={"token": rotated["access_token"]},
        auth=(web_client["client_id"], web_client["client_secret"]), timeout=HTTP_TIMEOUT).json()
    assert introspected == {"active": False}


def test_twenty_parallel_refreshes_of_one_token_give_exactly_one_success(server, web_client, metadata):
    session = web_session(web_client, metadata)
    params, verifier, _ = sign_in_and_consent(server, session, metadata)
    tokens = session.fetch_token(metadata["token_endpoint"], code=params["code"], code_verifier=verifier)
    barrier = threading.Barrier(20)

    def refresh(_):
        barrier.wait()
        return requests.post(metadata["token_endpoint"], timeout=HTTP_TIMEOUT, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "client_id": web_client["client_id"], "client_secret": web_client["client_secret"]})

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(refresh, range(20)))
    assert sorted(r.status_code for r in answers) == [200] + [400] * 19
    assert all(r.json()["error"] == "invalid_grant" for r in answers if r.status_code == 400)


def test_mobile_client_uses_pkce_and_any_loopback_port(server, mobile_client, metadata):
    redirect = "http://127.0.0.1:53117/callback"
    session = OAuth2Session(mobile_client["client_id"], token_endpoint_auth_method="none", redirect_uri=redirect,
                            scope="openid ai:access", code_challenge_method="S256")
    browser = Browser(server)
    verifier = secrets.token_urlsafe(48)
    page, state = authorize(browser, session, metadata, verifier)
    page = browser.consent(browser.sign_in(page, "ada", PASSWORD))
    params = callback_parameters(page, redirect)
    tokens = session.fetch_token(metadata["token_endpoint"], code=params["code"], code_verifier=verifier)
    assert tokens["refresh_token"] and tokens["id_token"]
    # A public client always rotates.
    refreshed = session.refresh_token(metadata["token_endpoint"], refresh_token=tokens["refresh_token"])
    assert refreshed["refresh_token"] != tokens["refresh_token"]


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def authorize_url(metadata, client_id, **params) -> str:
    base = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "state": "s1",
            "code_challenge": pkce_challenge("v" * 43), "code_challenge_method": "S256"}
    base.update(params)
    return metadata["authorization_endpoint"] + "?" + urlencode({k: v for k, v in base.items() if v is not None})


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.mark.parametrize("redirect_uri", [CALLBACK + "x", "https://myapp.com/callbacK", "https://evil.example/callback"])
def test_unregistered_redirect_uri_gets_an_error_page_never_a_redirect(server, web_client, metadata, redirect_uri):
    resp = requests.get(authorize_url(metadata, web_client["client_id"], redirect_uri=redirect_uri),
                        allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert resp.status_code == 400
    assert "Location" not in resp.headers
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "redirect_uri" in resp.text


def test_unknown_client_gets_an_error_page(server, metadata):
    resp = requests.get(authorize_url(metadata, "no-such-client"), allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert resp.status_code == 400 and "Location" not in resp.headers


@pytest.mark.parametrize("params,error", [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ({"scope": "admin:clients"}, "invalid_scope"),
    ({"scope": "openid nope"}, "invalid_scope"),
    ({"resource": "https://not-allowed.example"}, "invalid_target"),
    ({"prompt": "none"}, "login_required"),
])
def test_authorization_errors_redirect_with_error_state_and_iss(server, web_client, metadata, params, error):
    resp = requests.get(authorize_url(metadata, web_client["client_id"], **params), allow_redirects=False,
                        timeout=HTTP_TIMEOUT)
    answer = callback_parameters(resp)
    assert answer["error"] == error
    assert answer["state"] == "s1"
    assert answer["iss"] == server.issuer


def code_for(server, web_client, metadata, verifier: str | None = "v" * 43) -> tuple[str, Browser]:
    browser = Browser(server)
    challenge = {"code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256"} if verifier else \
        {"code_challenge": None, "code_challenge_method": None}
    page = browser.follow(browser.get(authorize_url(metadata, web_client["client_id"], scope="openid", **challenge)))
    page = browser.sign_in(page, "ada", PASSWORD)
    if "/authorize/consent" in page.text:
        page = browser.consent(page)
    return callback_parameters(page)["code"], browser


def exchange(metadata, client, code, **extra) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "client_id": client["client_id"], "client_secret": client.get("client_secret", "")}
    data.update(extra)
    return requests.post(metadata["token_endpoint"], data={k: v for k, v in data.items() if v is not None},
                         timeout=HTTP_TIMEOUT)


def test_code_exchange_bad_inputs(server, web_client, metadata):
    other = register(server, dict(WEB_CLIENT, name="Other web app"), "other-web")
    code, _ = code_for(server, web_client, metadata)
    assert exchange(metadata, web_client, code, code_verifier=None).json()["error"] == "invalid_grant"
    assert exchange(metadata, web_client, code, code_verifier="w" * 43).json()["error"] == "invalid_grant"
    assert exchange(metadata, web_client, code, code_verifier="v" * 43,
                    redirect_uri=CALLBACK + "x").json()["error"] == "invalid_grant"
    assert exchange(metadata, other, code, code_verifier="v" * 43).json()["error"] == "invalid_grant"
    first = exchange(metadata, web_client, code, code_verifier="v" * 43)
    assert first.status_code == 200
    # A replay is refused, and revokes what the first exchange issued.
    replay = exchange(metadata, web_client, code, code_verifier="v" * 43)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    introspected = requests.post(
        metadata["introspection_endpoint"], data={"token": first.json()["access_token"]},
        auth=(web_client["client_id"], web_client["client_secret"]), timeout=HTTP_TIMEOUT).json()
    assert introspected == {"active": False}
    refreshed = requests.post(metadata["token_endpoint"], timeout=HTTP_TIMEOUT, data={
        "grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"],
        "client_id": web_client["client_id"], "client_secret": web_client["client_secret"]})
    assert refreshed.json()["error"] == "invalid_grant"


def test_refresh_token_of_another_client_is_refused(server, web_client, metadata):
    other = register(server, dict(WEB_CLIENT, name="Third web app"), "third-web")
    code, _ = code_for(server, web_client, metadata)
    tokens = exchange(metadata, web_client, code, code_verifier="v" * 43).json()
    stolen = requests.post(metadata["token_endpoint"], timeout=HTTP_TIMEOUT, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": other["client_id"], "client_secret": other["client_secret"]})
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"


def test_wrong_password_and_unknown_user_read_the_same(server, web_client, metadata):
    answers = []
    for username, password in (("ada", "wrong password!"), ("nobody-here", "wrong password!")):
        browser = Browser(server)
        page = browser.follow(browser.get(authorize_url(metadata, web_client["client_id"], scope="openid")))
        page = browser.sign_in(page, username, password)
        assert page.status_code == 200
        assert "/authorize/sign-in" in page.text
        answers.append(re.search(r'role="alert"[^>]*>([^<]*)<', page.text).group(1))
    assert answers[0] == answers[1] == "invalid username or password"


def test_csrf_token_missing_or_wrong_is_refused(server, web_client, metadata):
    browser = Browser(server)
    page = browser.follow(browser.get(authorize_url(metadata, web_client["client_id"], scope="openid")))
    form = page_form(page.text)
    for csrf in (None, "x" * 43):
        fields = dict(form["fields"], username="ada", password=PASSWORD)
        if csrf is None:
            del fields["csrf"]
        else:
            fields["csrf"] = csrf
        resp = browser.post(form["action"], fields)
        assert resp.status_code == 403
        assert not any(c.name == "authsec_session" for c in browser.http.cookies)
    # The same form from another browser (no CSRF cookie) is refused too.
    stranger = requests.post(server.url(form["action"]), data=dict(form["fields"], username="ada", password=PASSWORD),
                             allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert stranger.status_code == 403


def test_user_who_denies_consent_sends_access_denied(server, metadata):
    client = register(server, dict(WEB_CLIENT, name="Denied app"), "denied-web")
    browser = Browser(server)
    page = browser.follow(browser.get(authorize_url(metadata, client["client_id"], scope="openid")))
    page = browser.sign_in(page, "ada", PASSWORD)
    answer = callback_parameters(browser.consent(page, decision="deny"))
    assert answer["error"] == "access_denied" and answer["iss"] == server.issuer


# ---------------------------------------------------------------------------------------------
# Logout and CORS
# ---------------------------------------------------------------------------------------------


def test_logout_ends_the_session_and_redirects_only_to_a_registered_logout_url(server, web_client, metadata):
    session = web_session(web_client, metadata)
    params, verifier, browser = sign_in_and_consent(server, session, metadata)
    tokens = session.fetch_token(metadata["token_endpoint"], code=params["code"], code_verifier=verifier)
    assert metadata["end_session_endpoint"] == server.issuer + "/logout"

    # Not registered: an error page, no redirect, and the person stays signed in.
    refused = browser.get(metadata["end_session_endpoint"] + "?" + urlencode({
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/logout"}))
    assert refused.status_code == 400 and "Location" not in refused.headers
    page, _ = authorize(browser, web_session(web_client, metadata), metadata, secrets.token_urlsafe(48))
    assert page.status_code in (302, 303) and page.headers["Location"].startswith(CALLBACK)

    # Registered: the session ends, the browser goes to the logout URL with its state.
    done = browser.get(metadata["end_session_endpoint"] + "?" + urlencode({
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://myapp.com/logout",
        "state": "bye"}))
    assert done.status_code == 302
    assert done.headers["Location"] == "https://myapp.com/logout?state=bye"
    page, _ = authorize(browser, web_session(web_client, metadata), metadata, secrets.token_urlsafe(48))
    assert page.status_code == 200 and "/authorize/sign-in" in page.text

    # Without a redirect URI: the signed-out page.
    signed_out = Browser(server).get(metadata["end_session_endpoint"])
    assert signed_out.status_code == 200 and "Signed out" in signed_out.text
    # A hint that is not our ID token is refused.
    forged = Browser(server).get(metadata["end_session_endpoint"] + "?id_token_hint=a.b.c")
    assert forged.status_code == 400


def test_cors_answers_registered_web_origins_only(server, web_client, metadata):
    preflight = requests.options(metadata["token_endpoint"], timeout=HTTP_TIMEOUT, headers={
        "Origin": "https://admin.myapp.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://admin.myapp.com"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]

    stranger = requests.options(metadata["token_endpoint"], timeout=HTTP_TIMEOUT, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in stranger.headers

    for url in (metadata["jwks_uri"], server.url("/.well-known/openid-configuration")):
        resp = requests.get(url, headers={"Origin": "https://myapp.com"}, timeout=HTTP_TIMEOUT)
        assert resp.headers["Access-Control-Allow-Origin"] == "https://myapp.com"
        other = requests.get(url, headers={"Origin": "https://evil.example"}, timeout=HTTP_TIMEOUT)
        assert "Access-Control-Allow-Origin" not in other.headers

    # The actual token response (not only the preflight) carries it, through the fast path too.
    resp = requests.post(metadata["token_endpoint"], timeout=HTTP_TIMEOUT, headers={"Origin": "https://myapp.com"},
                         data={"grant_type": "refresh_token", "refresh_token": "nope",
                               "client_id": web_client["client_id"], "client_secret": web_client["client_secret"]})
    assert resp.status_code == 400
    assert resp.headers["Access-Control-Allow-Origin"] == "https://myapp.com"

    # Never on /authorize or the pages.
    page = requests.get(authorize_url(metadata, web_client["client_id"], scope="openid"),
                        headers={"Origin": "https://myapp.com"}, allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert "Access-Control-Allow-Origin" not in page.headers

    # An origin is answered while a client lists it, and no longer once none does.
    solo = register(server, dict(WEB_CLIENT, name="Solo app", web_origins=["https://solo.example"]), "solo-web")
    def allows_solo():
        resp = requests.get(metadata["jwks_uri"], headers={"Origin": "https://solo.example"}, timeout=HTTP_TIMEOUT)
        return resp.headers.get("Access-Control-Allow-Origin") == "https://solo.example"
    assert allows_solo()
    server.cli("clients", "update", solo["client_id"], "--web-origin", "https://solo-two.example")
    assert not allows_solo()
    server.cli("clients", "update", solo["client_id"], "--web-origin", "https://solo.example")
    assert allows_solo()
    server.cli("clients", "delete", solo["client_id"])
    assert not allows_solo()


# ---------------------------------------------------------------------------------------------
# Pushed authorization requests (RFC 9126) and the device flow (RFC 8628)
# ---------------------------------------------------------------------------------------------


def test_pushed_authorization_request_is_used_once(server, web_client, metadata):
    assert metadata["pushed_authorization_request_endpoint"] == server.issuer + "/oauth/par"
    verifier = secrets.token_urlsafe(48)
    pushed = requests.post(metadata["pushed_authorization_request_endpoint"], timeout=HTTP_TIMEOUT, data={
        "response_type": "code", "client_id": web_client["client_id"], "client_secret": web_client["client_secret"],
        "redirect_uri": CALLBACK, "scope": "openid", "state": "pushed", "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256"})
    assert pushed.status_code == 201, pushed.text
    body = pushed.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:") and body["expires_in"] == 60

    browser = Browser(server)
    url = metadata["authorization_endpoint"] + "?" + urlencode(
        {"client_id": web_client["client_id"], "request_uri": body["request_uri"]})
    page = browser.follow(browser.get(url))
    page = browser.sign_in(page, "ada", PASSWORD)
    if "/authorize/consent" in page.text:
        page = browser.consent(page)
    params = callback_parameters(page)
    assert params["state"] == "pushed"
    assert exchange(metadata, web_client, params["code"], code_verifier=verifier).status_code == 200

    # Reused, or unknown: an error page, never a redirect.
    for request_uri in (body["request_uri"], "urn:ietf:params:oauth:request_uri:nope"):
        again = requests.get(metadata["authorization_endpoint"] + "?" + urlencode(
            {"client_id": web_client["client_id"], "request_uri": request_uri}), allow_redirects=False,
            timeout=HTTP_TIMEOUT)
        assert again.status_code == 400 and "Location" not in again.headers
        assert "invalid_request_uri" in again.text

    # A bad pushed request is refused at once, as JSON.
    bad = requests.post(metadata["pushed_authorization_request_endpoint"], timeout=HTTP_TIMEOUT, data={
        "response_type": "code", "client_id": web_client["client_id"], "client_secret": web_client["client_secret"],
        "redirect_uri": CALLBACK, "code_challenge_method": "plain", "code_challenge": "x" * 43})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


def test_client_requiring_par_is_refused_without_a_request_uri(server, metadata):
    client = register(server, dict(WEB_CLIENT, name="PAR-only app", require_pushed_authorization_requests=True),
                      "par-web")
    answer = callback_parameters(requests.get(authorize_url(metadata, client["client_id"]), allow_redirects=False,
                                              timeout=HTTP_TIMEOUT))
    assert answer["error"] == "invalid_request" and answer["iss"] == server.issuer


def test_device_flow_is_approved_through_the_page_while_the_device_polls(server, metadata):
    device_client = register(server, {
        "name": "Living-room TV", "app_type": "mobile", "callbacks": ["com.tv.app:/cb"],
        "grant_types": ["device_code", "refresh_token"], "allowed_scopes": ["openid", "ai:access"]}, "tv")
    assert "urn:ietf:params:oauth:grant-type:device_code" in device_client["grant_types"]
    started = requests.post(metadata["device_authorization_endpoint"], timeout=HTTP_TIMEOUT,
                            data={"client_id": device_client["client_id"], "scope": "openid ai:access"})
    assert started.status_code == 200, started.text
    device = started.json()
    assert re.fullmatch(r"[BCDFGHJKMNPQRSTVWXZ]{4}-[BCDFGHJKMNPQRSTVWXZ]{4}", device["user_code"])
    assert device["verification_uri"] == server.issuer + "/device"
    assert device["interval"] == 5 and device["expires_in"] == 600

    def poll():
        return requests.post(metadata["token_endpoint"], timeout=HTTP_TIMEOUT, data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": device["device_code"],
            "client_id": device_client["client_id"]})

    assert poll().json()["error"] == "authorization_pending"
    assert poll().json()["error"] == "slow_down"  # polled again at once

    # The person: a wrong code first, then the right one typed in lower case, sign-in, allow.
    browser = Browser(server)
    wrong = browser.get(server.url("/device?user_code=BBBB-BBBB"))
    assert wrong.status_code == 400 and "wrong" in wrong.text
    page = browser.get(server.url("/device?" + urlencode({"user_code": device["user_code"].lower()})))
    page = browser.sign_in(page, "ada", PASSWORD)
    assert "Allow this device?" in page.text and device["user_code"] in page.text
    form = page_form(page.text)
    done = browser.follow(browser.post(form["action"], dict(form["fields"], decision="allow")))
    assert "Device connected" in done.text

    tokens = poll().json()
    assert tokens["access_token"] and tokens["refresh_token"] and tokens["id_token"]
    user = server.cli_json("users", "get", "ada", "--json")
    assert jwt.decode(tokens["access_token"], options={"verify_signature": False})["sub"] == user["sub"]
    # Used once: the code is gone, and so is the user code.
    assert poll().json()["error"] == "invalid_grant"
    reused = browser.follow(browser.post(form["action"], dict(form["fields"], decision="allow")))
    assert "wrong" in reused.text


def test_device_flow_denied_gives_access_denied(server, metadata):
    device_client = register(server, {
        "name": "Kiosk", "app_type": "mobile", "callbacks": ["com.kiosk:/cb"], "grant_types": ["device_code"],
        "allowed_scopes": ["openid"]}, "kiosk")
    device = requests.post(metadata["device_authorization_endpoint"], timeout=HTTP_TIMEOUT,
                           data={"client_id": device_client["client_id"]}).json()
    browser = Browser(server)
    page = browser.sign_in(browser.get(device["verification_uri_complete"]), "ada", PASSWORD)
    form = page_form(page.text)
    browser.post(form["action"], dict(form["fields"], decision="deny"))
    denied = requests.post(metadata["token_endpoint"], timeout=HTTP_TIMEOUT, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": device["device_code"],
        "client_id": device_client["client_id"]})
    assert denied.status_code == 400 and denied.json()["error"] == "access_denied"


# ---------------------------------------------------------------------------------------------
# Consents: remembered, widened only for new scopes, listed and revoked by an admin
# ---------------------------------------------------------------------------------------------


def test_consent_asks_only_for_new_scopes_and_an_admin_can_revoke_it(server, metadata):
    server.cli_json("users", "create", "grace", "--password-file", write_password(server), "--json")
    client = register(server, dict(WEB_CLIENT, name="Consent app"), "consent-web")
    browser = Browser(server)

    def authorize_scope(scope: str) -> requests.Response:
        return browser.follow(browser.get(authorize_url(metadata, client["client_id"], scope=scope)))

    page = browser.sign_in(authorize_scope("openid"), "grace", PASSWORD)
    assert "/authorize/consent" in page.text
    code = callback_parameters(browser.consent(page))["code"]
    tokens = exchange(metadata, client, code, code_verifier="v" * 43).json()
    # Asked again with one more scope: only the new one is on the page.
    page = authorize_scope("openid ai:access")
    assert "/authorize/consent" in page.text and "Access AI features" in page.text
    assert "Know who you are" not in page.text
    callback_parameters(browser.consent(page))
    # prompt=consent asks even for what was granted.
    page = browser.follow(browser.get(authorize_url(metadata, client["client_id"], scope="openid", prompt="consent")))
    assert "/authorize/consent" in page.text

    listed = server.cli_json("users", "consents", "grace", "--json")["consents"]
    assert [(c["client_id"], set(c["scopes"])) for c in listed] == [(client["client_id"], {"openid", "ai:access"})]
    assert listed[0]["client_name"] == "Consent app"

    server.cli("users", "revoke-consent", "grace", client["client_id"])
    assert server.cli_json("users", "consents", "grace", "--json")["consents"] == []
    # The grant made under it is revoked: its refresh token no longer works.
    refreshed = requests.post(metadata["token_endpoint"], timeout=HTTP_TIMEOUT, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": client["client_id"], "client_secret": client["client_secret"]})
    assert refreshed.json()["error"] == "invalid_grant"
    # And the next authorization asks again.
    assert "/authorize/consent" in authorize_scope("openid").text
    missing = server.cli("users", "revoke-consent", "grace", client["client_id"], check=False)
    assert missing.returncode != 0 and "not_found" in missing.stderr + missing.stdout


def test_a_client_that_asks_for_rs256_id_tokens_gets_them(server, metadata):
    assert metadata["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    client = register(server, dict(WEB_CLIENT, name="RS256 app", id_token_signed_response_alg="RS256"), "rs256-web")
    assert client["id_token_signed_response_alg"] == "RS256"
    code, browser = code_for(server, client, metadata)
    tokens = exchange(metadata, client, code, code_verifier="v" * 43).json()
    header = jwt.get_unverified_header(tokens["id_token"])
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    # The JWKS publishes the RSA key beside the EC ones; PyJWT verifies the token with it.
    keys = requests.get(metadata["jwks_uri"], timeout=HTTP_TIMEOUT).json()["keys"]
    rsa = [k for k in keys if k["kty"] == "RSA"]
    assert [k["kid"] for k in rsa] == [header["kid"]] and all("d" not in k for k in keys)
    key = jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=False).get_signing_key_from_jwt(tokens["id_token"])
    claims = jwt.decode(tokens["id_token"], key.key, algorithms=["RS256"], audience=client["client_id"],
                        issuer=server.issuer)
    assert claims["sub"] == server.cli_json("users", "get", "ada", "--json")["sub"]
    # Access tokens stay ES256; an RS256 ID token is a good logout hint.
    assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "ES256"
    done = browser.get(metadata["end_session_endpoint"] + "?" + urlencode({
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://myapp.com/logout"}))
    assert done.status_code == 302 and done.headers["Location"] == "https://myapp.com/logout"
    bad = register_refused(server, dict(WEB_CLIENT, name="HS256 app", id_token_signed_response_alg="HS256"))
    assert "id_token_signed_response_alg" in bad


def register_refused(server, body: dict) -> str:
    path = server.workdir / "refused.json"
    path.write_text(json.dumps(body))
    result = server.cli("clients", "create", "--file", str(path), "--json", check=False)
    assert result.returncode != 0
    return result.stderr + result.stdout
