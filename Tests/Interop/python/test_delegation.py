"""MCP and delegation, from outside: MCP servers as resource servers (`resource` → `aud`), dynamic
client registration (RFC 7591/7592) with its bad inputs, and token exchange (RFC 8693) with `act`.

Stock clients only: requests for the raw protocol, Authlib's OAuth2Session for the code flow,
PyJWT to read and forge tokens. Run with the rest: `bash Tests/Interop/python/run.sh`.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from cryptography.hazmat.primitives.asymmetric import ec

from test_interop import HTTP_TIMEOUT, authsec_bin, launch
from test_people import PASSWORD, Browser, callback_parameters, register, write_password

MCP_URL = "http://127.0.0.1:9/mcp"
OTHER_MCP_URL = "http://127.0.0.1:9/other-mcp"
LOOPBACK_CALLBACK = "http://127.0.0.1:53682/callback"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"

# An MCP server as the product page writes one: its MCP config at the top level of the file.
MCP_SERVER = {
    "name": "Knowledge base MCP",
    "app_type": "mcp_server",
    "resource": MCP_URL,
    "protocol_version": "2026-07-28",
    "supported_features": ["tools", "resources"],
    "endpoints": {"mcp": MCP_URL},
    "security": {"require_auth": True, "allowed_origins": ["https://claude.ai"]},
}


@pytest.fixture(scope="module")
def server():
    with launch("--open-registration") as srv:
        srv.cli("scopes", "create", "ai:access", "--description", "Access AI features")
        srv.cli("scopes", "create", "mcp:tools", "--description", "Call MCP tools")
        srv.cli_json("users", "create", "ada", "--email", "ada@example.com", "--password-file", write_password(srv),
                     "--json")
        yield srv


@pytest.fixture(scope="module")
def metadata(server):
    return requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=HTTP_TIMEOUT).json()


@pytest.fixture(scope="module")
def mcp_server(server):
    return register(server, MCP_SERVER, "mcp")


@pytest.fixture(scope="module")
def other_mcp_server(server):
    return register(server, dict(MCP_SERVER, name="Other MCP", resource=OTHER_MCP_URL,
                                 endpoints={"mcp": OTHER_MCP_URL}), "other-mcp")


def post_register(server, body, token=None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(server.url("/register"), json=body, headers=headers, timeout=HTTP_TIMEOUT, **kwargs)


def dcr_body(**overrides) -> dict:
    body = {"client_name": "Claude Desktop", "redirect_uris": [LOOPBACK_CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none", "scope": "openid ai:access mcp:tools"}
    body.update(overrides)
    return body


def registered_public_client(server, name: str) -> dict:
    resp = post_register(server, dcr_body(client_name=name))
    assert resp.status_code == 201, resp.text
    return resp.json()


def person_tokens(server, metadata, client: dict, resource: str | None, scope="openid ai:access mcp:tools",
                  redirect_uri=LOOPBACK_CALLBACK) -> dict:
    """Runs the code flow with PKCE for `client` (Authlib), Ada signing in through the pages."""
    session = OAuth2Session(client["client_id"], client.get("client_secret"),
                            token_endpoint_auth_method=client["token_endpoint_auth_method"],
                            redirect_uri=redirect_uri, scope=scope, code_challenge_method="S256")
    verifier = secrets.token_urlsafe(48)
    extra = {"resource": resource} if resource else {}
    url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                  **extra)
    browser = Browser(server)
    page = browser.follow(browser.get(url))
    if "/authorize/sign-in" in page.text:
        page = browser.sign_in(page, "ada", PASSWORD)
    if "/authorize/consent" in page.text:
        page = browser.consent(page)
    params = callback_parameters(page, redirect_uri)
    assert params["state"] == state
    return session.fetch_token(metadata["token_endpoint"], code=params["code"], code_verifier=verifier, **extra)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def introspect(server, token: str, client: dict) -> dict:
    resp = requests.post(server.url("/oauth/introspect"), data={"token": token},
                         auth=(client["client_id"], client["client_secret"]), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text
    return resp.json()


# ---------------------------------------------------------------------------------------------
# MCP servers are resource servers
# ---------------------------------------------------------------------------------------------


def test_mcp_config_at_the_top_level_is_kept_and_readable_by_the_server_itself(server, mcp_server):
    assert mcp_server["mcp_config"]["resource"] == MCP_URL
    assert mcp_server["mcp_config"]["endpoints"] == {"mcp": MCP_URL}
    assert mcp_server["mcp_config"]["security"]["allowed_origins"] == ["https://claude.ai"]
    # The MCP server reads its own settings with its own credentials; no admin scope needed.
    own = server.cli("clients", "get", mcp_server["client_id"], "--json", "--client-id", mcp_server["client_id"],
                     "--client-secret", mcp_server["client_secret"])
    settings = json.loads(own.stdout)["mcp_config"]
    assert settings["security"]["require_auth"] is True
    assert settings["protocol_version"] == "2026-07-28"
    assert settings["supported_features"] == ["tools", "resources"]
    # …but not another client's.
    other = server.cli("clients", "get", server.admin_id, "--client-id", mcp_server["client_id"],
                       "--client-secret", mcp_server["client_secret"], check=False)
    assert other.returncode != 0 and "insufficient_scope" in other.stderr


def test_a_registered_client_gets_a_token_bound_to_the_mcp_server(server, metadata, mcp_server, other_mcp_server):
    client = registered_public_client(server, "Bound client")
    tokens = person_tokens(server, metadata, client, MCP_URL)
    claims = claims_of(tokens["access_token"])
    assert claims["aud"] == MCP_URL or claims["aud"] == [MCP_URL]
    assert claims["client_id"] == client["client_id"]
    assert claims["sub"].startswith("u_")
    # The MCP server sees the token; another MCP server is told only that it is inactive.
    seen = introspect(server, tokens["access_token"], mcp_server)
    assert seen["active"] is True and seen["sub"] == claims["sub"]
    assert introspect(server, tokens["access_token"], other_mcp_server) == {"active": False}
    # A refresh may narrow the resource (here: keep it) but never widen it.
    refreshed = requests.post(metadata["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client["client_id"],
        "resource": MCP_URL}, timeout=HTTP_TIMEOUT)
    assert refreshed.status_code == 200, refreshed.text
    assert claims_of(refreshed.json()["access_token"])["aud"] in (MCP_URL, [MCP_URL])
    widened = requests.post(metadata["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"],
        "client_id": client["client_id"], "resource": OTHER_MCP_URL}, timeout=HTTP_TIMEOUT)
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_target", widened.text


def test_a_resource_that_is_not_registered_is_invalid_target(server, metadata, mcp_server):
    client = registered_public_client(server, "Unbound client")
    session = OAuth2Session(client["client_id"], redirect_uri=LOOPBACK_CALLBACK, scope="openid",
                            code_challenge_method="S256")
    url, state = session.create_authorization_url(metadata["authorization_endpoint"],
                                                  code_verifier=secrets.token_urlsafe(48),
                                                  resource="https://unregistered.example/mcp")
    answer = callback_parameters(requests.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT), LOOPBACK_CALLBACK)
    assert answer["error"] == "invalid_target" and answer["state"] == state and answer["iss"] == server.issuer


def test_step_up_asks_only_for_the_new_scopes_and_the_token_carries_the_union(server, metadata, mcp_server):
    client = registered_public_client(server, "Step-up client")
    first = person_tokens(server, metadata, client, MCP_URL, scope="openid ai:access")
    assert set(first["scope"].split()) == {"openid", "ai:access"}
    # The MCP server answered insufficient_scope for mcp:tools: the client asks for it alone.
    session = OAuth2Session(client["client_id"], redirect_uri=LOOPBACK_CALLBACK, scope="mcp:tools",
                            code_challenge_method="S256")
    verifier = secrets.token_urlsafe(48)
    url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                  resource=MCP_URL)
    browser = Browser(server)
    page = browser.sign_in(browser.follow(browser.get(url)), "ada", PASSWORD)
    assert "/authorize/consent" in page.text
    assert "Call MCP tools" in page.text and "Access AI features" not in page.text
    params = callback_parameters(browser.consent(page), LOOPBACK_CALLBACK)
    token = session.fetch_token(metadata["token_endpoint"], code=params["code"], code_verifier=verifier,
                                resource=MCP_URL)
    assert set(token["scope"].split()) == {"openid", "ai:access", "mcp:tools"}
    assert set(claims_of(token["access_token"])["scope"].split()) == {"openid", "ai:access", "mcp:tools"}


# ---------------------------------------------------------------------------------------------
# Dynamic client registration (RFC 7591, RFC 7592)
# ---------------------------------------------------------------------------------------------


def test_registration_is_advertised_and_answers_rfc7591_fields(server, metadata):
    assert metadata["registration_endpoint"] == server.issuer + "/register"
    resp = post_register(server, dcr_body(client_name="Fields", scope="openid ai:access admin:clients nope"))
    assert resp.status_code == 201, resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json()
    assert body["redirect_uris"] == [LOOPBACK_CALLBACK]
    assert body["token_endpoint_auth_method"] == "none" and "client_secret" not in body
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    # Only scopes the registration policy allows: never a reserved one, never an unknown one.
    assert body["scope"].split() == ["openid", "ai:access"]
    assert body["registration_client_uri"] == server.issuer + "/register/" + body["client_id"]
    assert body["registration_access_token"] and isinstance(body["client_id_issued_at"], int)
    listed = server.cli_json("clients", "list", "--registered", "--all", "--json")["clients"]
    assert body["client_id"] in [c["client_id"] for c in listed]
    assert all(c["registered_at"] > 0 for c in listed)
    admins = server.cli_json("clients", "list", "--all", "--json")["clients"]
    assert server.admin_id not in [c["client_id"] for c in listed]
    assert server.admin_id in [c["client_id"] for c in admins]


def test_a_confidential_registration_is_read_replaced_and_deleted_by_its_token(server, metadata):
    resp = post_register(server, dcr_body(client_name="Confidential", token_endpoint_auth_method="client_secret_basic",
                                          redirect_uris=["https://app.example/cb"]))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["client_secret"] and body["client_secret_expires_at"] == 0
    uri, token = body["registration_client_uri"], body["registration_access_token"]
    # Its secret works at the token endpoint (a code flow is not needed to prove that: revoke is authenticated).
    assert requests.post(metadata["revocation_endpoint"], data={"token": "x"},
                         auth=(body["client_id"], body["client_secret"]), timeout=HTTP_TIMEOUT).status_code == 200
    read = requests.get(uri, headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT)
    assert read.status_code == 200 and read.json()["client_name"] == "Confidential"
    assert "client_secret" not in read.json() and "registration_access_token" not in read.json()
    for bad in ("wrong", ""):
        refused = requests.get(uri, headers={"Authorization": f"Bearer {bad}"}, timeout=HTTP_TIMEOUT)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
        assert "Bearer" in refused.headers["WWW-Authenticate"]
    replaced = requests.put(uri, headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT, json={
        "client_id": body["client_id"], "client_name": "Renamed", "redirect_uris": ["https://app.example/cb2"],
        "token_endpoint_auth_method": "client_secret_basic"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["redirect_uris"] == ["https://app.example/cb2"]
    switched = requests.put(uri, headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT, json={
        "client_id": body["client_id"], "redirect_uris": ["https://app.example/cb2"],
        "token_endpoint_auth_method": "none"})
    assert switched.status_code == 400 and switched.json()["error"] == "invalid_client_metadata"
    deleted = requests.delete(uri, headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT)
    assert deleted.status_code == 204
    assert requests.get(uri, headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT).status_code == 401
    # Its secret stopped with it.
    assert requests.post(metadata["revocation_endpoint"], data={"token": "x"},
                         auth=(body["client_id"], body["client_secret"]), timeout=HTTP_TIMEOUT).status_code == 401


def test_the_same_public_software_registering_again_gets_the_same_client(server):
    body = dcr_body(client_name="Sprawl", software_id="com.example.sprawl")
    first = post_register(server, body)
    again = post_register(server, body)
    assert first.status_code == 201 and again.status_code == 200, (first.text, again.text)
    assert again.json()["client_id"] == first.json()["client_id"]
    # The shared client cannot be changed by whoever registered it again.
    assert "registration_access_token" not in again.json()
    other = post_register(server, dict(body, redirect_uris=["http://127.0.0.1:9999/cb"]))
    assert other.status_code == 201 and other.json()["client_id"] != first.json()["client_id"]


@pytest.mark.parametrize("body,error,field", [
    (dcr_body(redirect_uris=["http://app.example/cb"]), "invalid_redirect_uri", "redirect_uris"),
    (dcr_body(redirect_uris=["https://app.example/cb#frag"]), "invalid_redirect_uri", "redirect_uris"),
    (dcr_body(grant_types=["client_credentials"]), "invalid_client_metadata", "grant_types"),
    (dcr_body(grant_types=["implicit"]), "invalid_client_metadata", "grant_types"),
    (dcr_body(grant_types=["urn:example:unknown-grant"]), "invalid_client_metadata", "grant_types"),
    (dcr_body(grant_types=["urn:ietf:params:oauth:grant-type:token-exchange"]), "invalid_client_metadata",
     "grant_types"),
    (dcr_body(redirect_uris=["com.example.app:/cb"]), "invalid_redirect_uri", "redirect_uris"),
    (dcr_body(token_endpoint_auth_method="tls_client_auth"), "invalid_client_metadata", "token_endpoint_auth_method"),
    (dcr_body(response_types=["token"]), "invalid_client_metadata", "response_types"),
    (dcr_body(redirect_uris="https://app.example/cb"), "invalid_client_metadata", "redirect_uris"),
    (dcr_body(application_type="desktop"), "invalid_client_metadata", "application_type"),
    (dcr_body(application_type="native", token_endpoint_auth_method="client_secret_basic"),
     "invalid_client_metadata", "token_endpoint_auth_method"),
    (dcr_body(token_endpoint_auth_method="private_key_jwt"), "invalid_client_metadata", "jwks_uri"),
])
def test_bad_registrations_are_refused_naming_the_field(server, body, error, field):
    resp = post_register(server, body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == error
    assert resp.json()["error_description"].startswith(field), resp.json()


def test_application_type_native_is_a_public_mobile_client_with_private_use_redirects(server):
    resp = post_register(server, dcr_body(application_type="native", redirect_uris=["com.example.app:/cb"]))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["application_type"] == "native" and body["token_endpoint_auth_method"] == "none"
    stored = server.cli_json("clients", "get", body["client_id"], "--json")
    assert stored["app_type"] == "mobile" and stored["callbacks"] == ["com.example.app:/cb"]


def test_registration_scopes_limit_what_a_registration_is_allowed():
    with launch("--open-registration", "--registration-scopes", "openid mcp:tools") as srv:
        srv.cli("scopes", "create", "ai:access", "--description", "AI")
        srv.cli("scopes", "create", "mcp:tools", "--description", "MCP tools")
        asked = post_register(srv, dcr_body(scope="openid ai:access mcp:tools"))
        assert asked.status_code == 201 and asked.json()["scope"].split() == ["openid", "mcp:tools"]
        unasked = post_register(srv, dcr_body(client_name="no scope", scope=None))
        assert unasked.status_code == 201 and unasked.json()["scope"].split() == ["openid", "mcp:tools"]
    refused = subprocess.run([authsec_bin(), "serve", "--registration-scopes", "admin:clients"],
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "reserved" in refused.stderr


def test_a_huge_or_malformed_registration_is_refused(server):
    huge = requests.post(server.url("/register"), data=b'{"client_name":"' + b"a" * (1 << 20) + b'"}',
                         headers={"Content-Type": "application/json"}, timeout=HTTP_TIMEOUT)
    assert huge.status_code == 413 and huge.json()["error"] == "invalid_client_metadata"
    for data, content_type in ((b"[1,2]", "application/json"), (b"{not json", "application/json"),
                               (b"client_name=x", "application/x-www-form-urlencoded")):
        resp = requests.post(server.url("/register"), data=data, headers={"Content-Type": content_type},
                             timeout=HTTP_TIMEOUT)
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_client_metadata", resp.text


def test_closed_registration_needs_an_initial_access_token_and_limits_each_address():
    with launch("--registrations-per-address", "3") as srv:
        refused = post_register(srv, dcr_body())
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
        created = srv.cli_json("registration-tokens", "create", "--uses", "2", "--json")
        assert created["uses_left"] == 2 and created["id"].startswith("iat_")
        listed = srv.cli_json("registration-tokens", "list", "--json")["registration_tokens"]
        assert [t["id"] for t in listed] == [created["id"]] and "token" not in listed[0]
        token = created["token"]
        assert post_register(srv, dcr_body(client_name="one"), token).status_code == 201
        assert post_register(srv, dcr_body(client_name="two"), token).status_code == 201
        spent = post_register(srv, dcr_body(client_name="three"), token)
        assert spent.status_code == 401 and spent.json()["error"] == "invalid_token"
        unlimited = srv.cli_json("registration-tokens", "create", "--uses", "0", "--json")["token"]
        assert post_register(srv, dcr_body(client_name="four"), unlimited).status_code == 201
        # The fourth registration from this address in the window is over the limit of 3.
        limited = post_register(srv, dcr_body(client_name="five"), unlimited)
        assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) > 0
        revoked = srv.cli_json("registration-tokens", "create", "--json")
        srv.cli("registration-tokens", "revoke", revoked["id"])
        assert srv.cli_json("registration-tokens", "list", "--json")["registration_tokens"][-1]["id"] != revoked["id"]


# ---------------------------------------------------------------------------------------------
# Token exchange (RFC 8693)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def agent(server):
    return register(server, {"name": "Research agent", "app_type": "ai_agent",
                             "grant_types": ["client_credentials", "token_exchange"],
                             "allowed_scopes": ["ai:access", "mcp:tools"], "allowed_audiences": [MCP_URL]}, "agent")


@pytest.fixture(scope="module")
def subagent(server):
    return register(server, {"name": "Sub-agent", "app_type": "ai_agent",
                             "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"],
                             "allowed_scopes": ["mcp:tools"], "allowed_audiences": [MCP_URL]}, "subagent")


@pytest.fixture(scope="module")
def person_token(server, metadata, mcp_server):
    client = registered_public_client(server, "Person's app")
    return person_tokens(server, metadata, client, MCP_URL)["access_token"]


def exchange(server, client: dict, subject_token: str, **extra) -> requests.Response:
    data = {"grant_type": TOKEN_EXCHANGE, "subject_token": subject_token, "subject_token_type": ACCESS_TOKEN_TYPE}
    data.update(extra)
    return requests.post(server.url("/oauth/token"), data={k: v for k, v in data.items() if v is not None},
                         auth=(client["client_id"], client["client_secret"]), timeout=HTTP_TIMEOUT)


def test_an_agent_exchanges_a_persons_token_for_one_that_carries_act(server, metadata, agent, subagent,
                                                                      person_token, mcp_server):
    resp = exchange(server, agent, person_token)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    person, delegated = claims_of(person_token), claims_of(body["access_token"])
    keys = jwt.PyJWKClient(metadata["jwks_uri"])
    verified = jwt.decode(body["access_token"], keys.get_signing_key_from_jwt(body["access_token"]).key,
                          algorithms=["ES256"], audience=MCP_URL, issuer=server.issuer)
    assert verified["sub"] == person["sub"] and verified["client_id"] == agent["client_id"]
    assert verified["act"] == {"sub": agent["client_id"]}
    assert set(verified["scope"].split()) == {"ai:access", "mcp:tools"}  # openid: not the agent's
    assert delegated["exp"] <= person["exp"]
    seen = introspect(server, body["access_token"], mcp_server)
    assert seen["active"] and seen["act"] == {"sub": agent["client_id"]} and seen["client_id"] == agent["client_id"]
    # A sub-agent exchanges the delegated token: the act chain nests, newest first.
    nested = exchange(server, subagent, body["access_token"], scope="mcp:tools", resource=MCP_URL)
    assert nested.status_code == 200, nested.text
    assert claims_of(nested.json()["access_token"])["act"] == {
        "sub": subagent["client_id"], "act": {"sub": agent["client_id"]}}
    assert claims_of(nested.json()["access_token"])["scope"] == "mcp:tools"


def test_token_exchange_bad_inputs(server, metadata, agent, subagent, person_token, mcp_server):
    def refused(resp: requests.Response, error: str):
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"] == error, resp.json()

    refused(exchange(server, subagent, person_token, scope="ai:access"), "invalid_scope")  # not the sub-agent's
    refused(exchange(server, agent, person_token, scope="email"), "invalid_scope")  # not the person's
    refused(exchange(server, agent, person_token, resource=OTHER_MCP_URL), "invalid_target")
    refused(exchange(server, agent, person_token, subject_token_type="urn:ietf:params:oauth:token-type:id_token"),
            "invalid_request")
    refused(exchange(server, agent, person_token, requested_token_type="urn:ietf:params:oauth:token-type:refresh_token"),
            "invalid_request")
    refused(exchange(server, agent, ""), "invalid_request")
    # A token this server did not issue: same claims, signed with another key.
    forged_key = ec.generate_private_key(ec.SECP256R1())
    header = jwt.get_unverified_header(person_token)
    forged = jwt.encode(claims_of(person_token), forged_key, algorithm="ES256", headers={"kid": header["kid"],
                                                                                         "typ": "at+jwt"})
    refused(exchange(server, agent, forged), "invalid_request")
    # A client's own token is not a person's.
    own = requests.post(server.url("/oauth/token"), data={"grant_type": "client_credentials"},
                        auth=(agent["client_id"], agent["client_secret"]), timeout=HTTP_TIMEOUT).json()["access_token"]
    refused(exchange(server, agent, own), "invalid_request")
    # A client without the grant.
    plain = register(server, {"name": "Plain agent", "app_type": "ai_agent", "allowed_audiences": [MCP_URL]}, "plain")
    resp = exchange(server, plain, person_token)
    assert resp.status_code in (400, 401) and resp.json()["error"] == "unauthorized_client", resp.text
    # A revoked subject token, and the tokens exchanged from it before.
    client = registered_public_client(server, "Revoking app")
    tokens = person_tokens(server, metadata, client, MCP_URL)
    delegated = exchange(server, agent, tokens["access_token"]).json()["access_token"]
    assert requests.post(metadata["revocation_endpoint"], timeout=HTTP_TIMEOUT, data={
        "token": tokens["refresh_token"], "client_id": client["client_id"]}).status_code == 200
    refused(exchange(server, agent, tokens["access_token"]), "invalid_request")
    assert introspect(server, delegated, mcp_server) == {"active": False}


def test_a_token_exchange_policy_narrows_whose_tokens_an_agent_may_exchange(server, person_token):
    narrow = register(server, {"name": "Narrow agent", "app_type": "ai_agent", "grant_types": ["token_exchange"],
                               "allowed_scopes": ["mcp:tools"], "allowed_audiences": [MCP_URL],
                               "token_exchange": {"subject_clients": ["someone-else"]}}, "narrow")
    resp = exchange(server, narrow, person_token)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request", resp.text
    person_client = claims_of(person_token)["client_id"]
    server.cli("clients", "update", narrow["client_id"], "--file", str(_write(server, "narrow-update", {
        "token_exchange": {"subject_clients": [person_client], "audiences": [MCP_URL]}})))
    assert exchange(server, narrow, person_token).status_code == 200


def _write(server, name: str, body: dict):
    path = server.workdir / f"{name}.json"
    path.write_text(json.dumps(body))
    return path


# ---------------------------------------------------------------------------------------------
# Client ID Metadata Documents
# ---------------------------------------------------------------------------------------------


class Documents:
    """A loopback http server of metadata documents: path → (status, headers, body)."""

    def __init__(self):
        self.routes: dict[str, tuple[int, dict, bytes]] = {}
        self.hits: dict[str, int] = {}
        documents = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                documents.hits[self.path] = documents.hits.get(self.path, 0) + 1
                status, headers, body = documents.routes.get(self.path, (404, {}, b"{}"))
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def serve(self, path: str, document: dict | bytes, status: int = 200, **headers) -> str:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.routes[path] = (status, headers, body)
        return self.url(path)

    def document(self, path: str, **overrides) -> str:
        body = {"client_id": self.url(path), "client_name": "Doc client", "redirect_uris": [LOOPBACK_CALLBACK],
                "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                "token_endpoint_auth_method": "none"}
        body.update(overrides)
        return self.serve(path, {k: v for k, v in body.items() if v is not None})

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def documents():
    served = Documents()
    yield served
    served.close()


def authorize_page(metadata, client_id: str) -> requests.Response:
    session = OAuth2Session(client_id, redirect_uri=LOOPBACK_CALLBACK, scope="openid", code_challenge_method="S256")
    url, _ = session.create_authorization_url(metadata["authorization_endpoint"],
                                              code_verifier=secrets.token_urlsafe(48))
    return requests.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)


def test_a_metadata_document_client_signs_a_person_in(server, metadata, documents, mcp_server):
    assert metadata["client_id_metadata_document_supported"] is True
    assert "none" in metadata["token_endpoint_auth_methods_supported"]
    client_id = documents.document("/clients/good.json", client_name="Doc Assistant")
    client = {"client_id": client_id, "token_endpoint_auth_method": "none"}
    browser_tokens = person_tokens(server, metadata, client, MCP_URL, scope="openid ai:access")
    claims = claims_of(browser_tokens["access_token"])
    assert claims["client_id"] == client_id and claims["aud"] in (MCP_URL, [MCP_URL])
    # Its refresh token works, the document being held (max-age absent: 5 minutes).
    fetched = documents.hits["/clients/good.json"]
    refreshed = requests.post(metadata["token_endpoint"], timeout=HTTP_TIMEOUT, data={
        "grant_type": "refresh_token", "refresh_token": browser_tokens["refresh_token"], "client_id": client_id})
    assert refreshed.status_code == 200, refreshed.text
    assert documents.hits["/clients/good.json"] == fetched


def test_the_consent_page_names_where_the_document_came_from(server, metadata, documents):
    client_id = documents.document("/clients/consent.json", client_name="Doc Consent")
    browser = Browser(server)
    page = browser.follow(browser.get(authorize_page(metadata, client_id).request.url))
    page = browser.sign_in(page, "ada", PASSWORD)
    assert "/authorize/consent" in page.text
    assert "Doc Consent" in page.text and "127.0.0.1" in page.text and "describes itself" in page.text


@pytest.mark.parametrize("case", ["redirects", "too large", "client_id differs", "lacks the redirect",
                                  "holds a secret", "secret method", "not json", "missing"])
def test_an_unacceptable_metadata_document_gets_an_error_page(server, metadata, documents, case):
    path = "/bad/" + case.replace(" ", "-") + ".json"
    if case == "redirects":
        target = documents.document("/bad/target.json")
        client_id = documents.serve(path, b"", status=302, Location=target)
    elif case == "too large":
        client_id = documents.document(path, client_name="x" * 6000)
    elif case == "client_id differs":
        client_id = documents.document(path, client_id=documents.url("/somewhere-else.json"))
    elif case == "lacks the redirect":
        client_id = documents.document(path, redirect_uris=["http://127.0.0.1:1/other"])
    elif case == "holds a secret":
        client_id = documents.document(path, client_secret="s3cret")
    elif case == "secret method":
        client_id = documents.document(path, token_endpoint_auth_method="client_secret_basic")
    elif case == "not json":
        client_id = documents.serve(path, b"<html>hello</html>")
    else:
        client_id = documents.url(path)
    resp = authorize_page(metadata, client_id)
    assert resp.status_code == 400, (case, resp.status_code, resp.text[:300])
    assert "Location" not in resp.headers and resp.headers["Content-Type"].startswith("text/html")
    # The token endpoint refuses such a client too.
    token = requests.post(metadata["token_endpoint"], timeout=HTTP_TIMEOUT, data={
        "grant_type": "authorization_code", "code": "x", "client_id": client_id})
    assert token.status_code in (400, 401) and token.json()["error"] in ("invalid_client", "invalid_grant"), token.text


def test_a_loopback_metadata_document_is_not_fetched_without_the_flag(documents):
    client_id = documents.document("/clients/loopback.json")
    with launch(insecure_client_metadata=False) as srv:
        meta = requests.get(srv.url("/.well-known/oauth-authorization-server"), timeout=HTTP_TIMEOUT).json()
        before = documents.hits.get("/clients/loopback.json", 0)
        resp = authorize_page(meta, client_id)
        assert resp.status_code == 400 and "Location" not in resp.headers
        assert documents.hits.get("/clients/loopback.json", 0) == before


# ---------------------------------------------------------------------------------------------
# Enterprise-managed authorization: Identity Assertion JWT Authorization Grants (ID-JAG)
# ---------------------------------------------------------------------------------------------

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IDP_ISSUER = "https://idp.example.com"


@pytest.fixture(scope="module")
def idp(server, documents):
    """An identity provider: its ES256 key, its JWKS served on loopback, trusted by the CLI."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="idp-1", use="sig", alg="ES256")
    jwks_uri = documents.serve("/idp/jwks.json", {"keys": [jwk]})
    added = server.cli_json("trust", "add", IDP_ISSUER, "--jwks-uri", jwks_uri, "--json")
    assert added["issuer"] == IDP_ISSUER and added["jwks_uri"] == jwks_uri
    return key


@pytest.fixture(scope="module")
def enterprise_client(server):
    return register(server, {"name": "Enterprise MCP client", "app_type": "ai_agent", "grant_types": ["jwt_bearer"],
                             "allowed_scopes": ["ai:access", "mcp:tools"]}, "enterprise")


def id_jag(server, key, client_id: str, **overrides) -> str:
    now = int(time.time())
    claims = {"iss": IDP_ISSUER, "sub": "ada", "aud": server.issuer, "client_id": client_id,
              "jti": secrets.token_hex(8), "iat": now, "exp": now + 300, "resource": MCP_URL,
              "scope": "mcp:tools"}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="ES256",
                      headers={"typ": "oauth-id-jag+jwt", "kid": "idp-1"})


def redeem(server, client: dict, assertion: str, **extra) -> requests.Response:
    data = {"grant_type": JWT_BEARER, "assertion": assertion, **extra}
    return requests.post(server.url("/oauth/token"), data=data, auth=(client["client_id"], client["client_secret"]),
                         timeout=HTTP_TIMEOUT)


def test_metadata_lists_the_id_jag_profile(metadata):
    assert metadata["authorization_grant_profiles_supported"] == ["urn:ietf:params:oauth:grant-profile:id-jag"]
    assert JWT_BEARER in metadata["grant_types_supported"]


def test_an_id_jag_from_a_trusted_issuer_gets_a_token(server, metadata, idp, enterprise_client, mcp_server):
    resp = redeem(server, enterprise_client, id_jag(server, idp, enterprise_client["client_id"]))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "refresh_token" not in body and body["scope"] == "mcp:tools"
    claims = claims_of(body["access_token"])
    ada = server.cli_json("users", "get", "ada", "--json")
    assert claims["sub"] == ada["sub"] and claims["client_id"] == enterprise_client["client_id"]
    assert claims["aud"] in (MCP_URL, [MCP_URL])
    assert introspect(server, body["access_token"], mcp_server)["active"] is True
    # The person may be named by email too (the username here is ada; a user named by email).
    server.cli_json("users", "create", "grace@example.com", "--password-file", write_password(server), "--json")
    by_email = redeem(server, enterprise_client,
                      id_jag(server, idp, enterprise_client["client_id"], sub="opaque-42", email="grace@example.com"))
    assert by_email.status_code == 200, by_email.text


def test_id_jag_bad_inputs(server, idp, enterprise_client, agent):
    cid = enterprise_client["client_id"]

    def refused(resp: requests.Response, error: str):
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"] == error, resp.json()

    other_key = ec.generate_private_key(ec.SECP256R1())
    refused(redeem(server, enterprise_client, id_jag(server, idp, cid, iss="https://untrusted.example")),
            "invalid_grant")
    refused(redeem(server, enterprise_client, id_jag(server, idp, cid, aud=[server.issuer, "https://other.example"])),
            "invalid_grant")
    refused(redeem(server, enterprise_client, id_jag(server, idp, agent["client_id"])), "invalid_grant")
    refused(redeem(server, enterprise_client, id_jag(server, idp, cid, exp=int(time.time()) - 5)), "invalid_grant")
    refused(redeem(server, enterprise_client, id_jag(server, other_key, cid)), "invalid_grant")
    refused(redeem(server, enterprise_client, id_jag(server, idp, cid, sub="nobody")), "invalid_grant")
    refused(redeem(server, enterprise_client, id_jag(server, idp, cid, resource="https://unregistered.example")),
            "invalid_target")
    refused(redeem(server, enterprise_client, id_jag(server, idp, cid, scope="admin:clients")), "invalid_scope")
    untyped = jwt.encode({"iss": IDP_ISSUER, "sub": "ada", "aud": server.issuer, "client_id": cid, "jti": "t1",
                          "exp": int(time.time()) + 60}, idp, algorithm="ES256", headers={"kid": "idp-1"})
    refused(redeem(server, enterprise_client, untyped), "invalid_grant")
    refused(redeem(server, enterprise_client, "not-a-jwt"), "invalid_grant")
    once = id_jag(server, idp, cid)
    assert redeem(server, enterprise_client, once).status_code == 200
    refused(redeem(server, enterprise_client, once), "invalid_grant")  # replayed
    # The client must hold the grant.
    resp = redeem(server, agent, id_jag(server, idp, agent["client_id"]))
    assert resp.json()["error"] == "unauthorized_client", resp.text


def test_an_issuer_no_longer_trusted_is_refused(server, documents, enterprise_client):
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="idp-1", alg="ES256")
    issuer = "https://short-lived-idp.example"
    server.cli("trust", "add", issuer, "--jwks-uri", documents.serve("/idp2/jwks.json", {"keys": [jwk]}))
    assert issuer in [t["issuer"] for t in server.cli_json("trust", "list", "--json")["trusted_issuers"]]
    assertion = id_jag(server, key, enterprise_client["client_id"], iss=issuer)
    assert redeem(server, enterprise_client, assertion).status_code == 200
    server.cli("trust", "remove", issuer)
    resp = redeem(server, enterprise_client, id_jag(server, key, enterprise_client["client_id"], iss=issuer))
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    bad = server.cli("trust", "add", "ftp://idp.example", "--jwks-uri", "https://idp.example/jwks", check=False)
    assert bad.returncode != 0 and "issuer" in bad.stderr
