"""MCP: the official MCP Python SDK (`mcp` 2.x), unmodified, against Authsec and the example MCP
server in examples/mcp-server.

An MCP client (the SDK's OAuthClientProvider) meets a 401 at the example server, reads its
RFC 9728 protected-resource metadata, then Authsec's RFC 8414 metadata, registers itself (RFC 7591
at /register, or a Client ID Metadata Document URL as its client_id), runs the authorization code
flow with PKCE and `resource` (a person answers Authsec's sign-in and consent pages through form
posts), calls tools, and refreshes. The example server checks tokens by introspection with its own
client credentials, or locally against the JWKS (`--verify jwks`).

Run with the rest: `bash Tests/Interop/python/run.sh -k mcp`.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import jwt
import pytest
import requests
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from test_interop import HTTP_TIMEOUT, REPO_ROOT, launch
from test_people import Browser, callback_parameters

EXAMPLE_SERVER = REPO_ROOT / "examples" / "mcp-server" / "server.py"
USERNAME = "ada"
PASSWORD = "correct horse battery staple"
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Authsec, the person, the example MCP servers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authsec():
    with launch("--open-registration") as srv:
        path = srv.workdir / "ada.pw"
        path.write_text(PASSWORD + "\n")
        srv.user = srv.cli_json("users", "create", USERNAME, "--name", "Ada Lovelace", "--password-file", str(path),
                                "--json")
        yield srv


@pytest.fixture(scope="module")
def metadata(authsec):
    resp = requests.get(authsec.url("/.well-known/oauth-authorization-server"), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text
    return resp.json()


def register_mcp_server(authsec, name: str, url: str) -> dict:
    """The MCP server as an Authsec client: the product page's MCP configuration, at the top level."""
    body = {
        "name": name,
        "app_type": "mcp_server",
        "resource": url,
        "endpoints": {"mcp": url},
        "protocol_version": "2026-07-28",
        "supported_features": ["tools"],
        "security": {"require_auth": True},
    }
    path = authsec.workdir / f"mcp-{url.split(':')[-1].replace('/', '-')}.json"
    path.write_text(json.dumps(body))
    result = authsec.cli("clients", "create", "--file", str(path), "--json")
    client = json.loads(result.stdout)
    assert client["app_type"] == "mcp_server" and client["client_secret"], client
    # Authsec kept the MCP URL (the CLI warns and drops fields it does not know).
    assert url in json.dumps(client), f"the MCP URL was not kept: {client}\nstderr: {result.stderr}"
    return client


@dataclass
class McpServer:
    url: str
    client: dict
    proc: subprocess.Popen
    output: list = field(default_factory=list)


def start_example_server(authsec, name: str, verify: str) -> McpServer:
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    client = register_mcp_server(authsec, name, url)
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE_SERVER), "--issuer", authsec.issuer, "--port", str(port), "--verify", verify,
         "--client-id", client["client_id"], "--client-secret", client["client_secret"]],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    server = McpServer(url, client, proc)
    lines: "queue.Queue[str | None]" = queue.Queue()

    def read():
        for line in iter(proc.stdout.readline, ""):
            server.output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            proc.kill()
            raise AssertionError("the example MCP server did not start:\n" + "".join(server.output))
        if m := re.match(r"mcp server listening on (\S+)", line):
            assert m.group(1) == url, line
            return server


def stop(server: McpServer) -> None:
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="module")
def mcp_introspecting(authsec):
    """The example server checking tokens by introspection."""
    server = start_example_server(authsec, "Example MCP server", "introspection")
    yield server
    stop(server)


@pytest.fixture(scope="module")
def mcp_jwks(authsec):
    """A second example server, registered apart, checking tokens locally against the JWKS."""
    server = start_example_server(authsec, "Example MCP server (JWKS)", "jwks")
    yield server
    stop(server)


# ---------------------------------------------------------------------------------------------
# The MCP client: the SDK's OAuth provider, a person on Authsec's pages
# ---------------------------------------------------------------------------------------------


class MemoryStorage:
    """The SDK's TokenStorage, in memory; keeps every token response it was given."""

    def __init__(self):
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None
        self.history: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def person_answers(authsec, authorize_url: str, redirect_uri: str) -> dict:
    """A person in a browser: Authsec's sign-in page, then its consent page, then the callback."""
    browser = Browser(authsec)
    page = browser.follow(browser.get(authorize_url))
    if page.status_code == 200 and "/authorize/sign-in" in page.text:
        page = browser.sign_in(page, USERNAME, PASSWORD)
    if page.status_code == 200 and "/authorize/consent" in page.text:
        page = browser.consent(page)
    params = callback_parameters(page, redirect_uri)
    assert "error" not in params, f"authorization answered {params} for {authorize_url}"
    return params


@dataclass
class Session:
    """One MCP client's run: its provider and storage, and what went over the wire."""

    authsec: object
    mcp_url: str
    redirect_uri: str
    storage: MemoryStorage = field(default_factory=MemoryStorage)
    provider: OAuthClientProvider | None = None
    authorize_urls: list = field(default_factory=list)
    sent: list = field(default_factory=list)  # (method, url, Authorization header, form body)
    answers: list = field(default_factory=list)  # (method, url, status, body) from Authsec

    def __post_init__(self):
        async def redirect_handler(url: str) -> None:
            self.authorize_urls.append(url)
            self._params = await anyio.to_thread.run_sync(person_answers, self.authsec, url, self.redirect_uri)

        async def callback_handler() -> AuthorizationCodeResult:
            params = self._params
            return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

        self.provider = OAuthClientProvider(
            self.mcp_url,
            OAuthClientMetadata(
                client_name="MCP interop client",
                redirect_uris=[AnyUrl(self.redirect_uri)],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            self.storage,
            redirect_handler=redirect_handler,
            callback_handler=callback_handler,
        )

    async def _on_request(self, request: httpx2.Request) -> None:
        body = request.content.decode(errors="replace") if request.method == "POST" and \
            request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded") else None
        self.sent.append((request.method, str(request.url), request.headers.get("authorization"), body))

    async def _on_response(self, response: httpx2.Response) -> None:
        if str(response.request.url).startswith(self.authsec.base_url):
            await response.aread()
            self.answers.append((response.request.method, str(response.request.url), response.status_code,
                                 response.text))

    def http(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(auth=self.provider, timeout=30.0,
                                  event_hooks={"request": [self._on_request], "response": [self._on_response]})

    def form_posts(self, path: str) -> list[dict]:
        return [{k: v[0] for k, v in parse_qs(body).items()} for method, url, _, body in self.sent
                if method == "POST" and urlsplit(url).path == path and body is not None]

    def bearer_tokens_sent(self) -> list[str]:
        return [auth.removeprefix("Bearer ") for _, url, auth, _ in self.sent
                if url.startswith(self.mcp_url) and auth and auth.startswith("Bearer ")]

    def wire_log(self) -> str:
        return "\n".join(f"{m} {u} -> {s} {b[:400]}" for m, u, s, b in self.answers)


async def call_tools(session: Session, then=None) -> dict:
    """Connects, lists the tools, calls `add` and `whoami`; `then(client)` runs more calls."""
    async with session.http() as http:
        async with Client(streamable_http_client(session.mcp_url, http_client=http)) as client:
            tools = await client.list_tools()
            added = await client.call_tool("add", {"a": 2, "b": 40})
            whoami = await client.call_tool("whoami", {})
            more = await then(client) if then else None
    return {"tools": sorted(t.name for t in tools.tools), "add": added, "whoami": whoami, "more": more}


def run(session: Session, then=None) -> dict:
    try:
        return anyio.run(call_tools, session, then)
    except BaseException as exc:
        raise AssertionError(f"MCP client failed: {exc!r}\nAuthsec answered:\n{session.wire_log()}") from exc


def structured(result) -> object:
    assert not result.is_error, result
    return result.structured_content


def verified_claims(metadata: dict, token: str, audience: str) -> dict:
    jwks = jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=False, timeout=HTTP_TIMEOUT)
    return jwt.decode(token, jwks.get_signing_key_from_jwt(token).key, algorithms=["ES256"],
                      issuer=metadata["issuer"], audience=audience,
                      options={"require": ["iss", "sub", "aud", "exp", "client_id"]})


def introspect(metadata: dict, token: str, client: dict) -> dict:
    resp = requests.post(metadata["introspection_endpoint"], data={"token": token},
                         auth=(client["client_id"], client["client_secret"]), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text
    return resp.json()


def raw_mcp_post(url: str, token: str) -> requests.Response:
    return requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=HTTP_TIMEOUT,
                         headers={"Authorization": f"Bearer {token}",
                                  "Accept": "application/json, text/event-stream"})


@pytest.fixture(scope="module")
def token_for(authsec):
    """One signed-in SDK run per MCP server, shared by the tests that only need its token."""
    cache: dict = {}

    def issue(server: McpServer) -> str:
        if server.url not in cache:
            session = Session(authsec, server.url, f"http://127.0.0.1:{free_port()}/callback")
            result = run(session)
            assert structured(result["add"]) == {"result": 42}, result
            cache[server.url] = session.storage.tokens.access_token
        return cache[server.url]

    return issue


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------


def test_example_server_publishes_resource_metadata_and_challenges(authsec, mcp_introspecting):
    url = mcp_introspecting.url
    resp = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=HTTP_TIMEOUT)
    assert resp.status_code == 401
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    metadata_url = re.search(r'resource_metadata="([^"]+)"', challenge).group(1)
    assert metadata_url == url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    prm = requests.get(metadata_url, timeout=HTTP_TIMEOUT).json()
    assert prm["resource"] == url
    assert prm["authorization_servers"] == [authsec.issuer]


def test_registration_is_advertised(authsec, metadata):
    assert metadata["registration_endpoint"] == authsec.issuer + "/register"
    assert metadata["issuer"] == authsec.issuer


def test_sdk_registers_signs_in_calls_tools_and_refreshes(authsec, metadata, mcp_introspecting):
    url = mcp_introspecting.url
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    session = Session(authsec, url, redirect_uri)
    result = run(session, then=lambda client: client.call_tool("echo", {"text": "hello"}))

    # Discovery, then RFC 7591 registration of a public client.
    registered = session.storage.client_info
    assert registered.client_id and registered.client_secret is None
    assert registered.token_endpoint_auth_method == "none"
    assert [str(u) for u in registered.redirect_uris] == [redirect_uri]
    assert any(m == "POST" and u == metadata["registration_endpoint"] and s == 201
               for m, u, s, _ in session.answers), session.wire_log()

    # The authorization request: PKCE, the MCP URL as resource.
    [authorize_url] = session.authorize_urls
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    assert authorize_url.startswith(metadata["authorization_endpoint"] + "?")
    assert query["client_id"] == registered.client_id and query["code_challenge_method"] == "S256"
    assert query["resource"] == url
    [code_exchange] = [p for p in session.form_posts(urlsplit(metadata["token_endpoint"]).path)
                       if p["grant_type"] == "authorization_code"]
    assert code_exchange["resource"] == url and code_exchange["code_verifier"]

    # The tools answered.
    assert {"add", "echo", "whoami"} <= set(result["tools"])
    assert structured(result["add"]) == {"result": 42}
    assert structured(result["more"]) == {"result": "hello"}
    user = authsec.user
    assert structured(result["whoami"])["sub"] == user["sub"]
    assert structured(result["whoami"])["client_id"] == registered.client_id

    # The access token: for this MCP server, this person, this client.
    first = session.storage.tokens
    assert first.refresh_token
    claims = verified_claims(metadata, first.access_token, url)
    assert claims["aud"] == url or claims["aud"] == [url]
    assert claims["sub"] == user["sub"] and claims["client_id"] == registered.client_id
    assert introspect(metadata, first.access_token, mcp_introspecting.client)["active"] is True

    # Refresh: the SDK's own record of the expiry, moved into the past, makes it refresh first.
    async def expire_then_call(client):
        session.provider.context.token_expiry_time = time.time() - 1
        return await client.call_tool("add", {"a": 1, "b": 1})

    again = run(session, then=expire_then_call)
    assert structured(again["more"]) == {"result": 2}
    refreshed = session.storage.tokens
    assert refreshed.access_token != first.access_token
    assert refreshed.refresh_token and refreshed.refresh_token != first.refresh_token  # public clients rotate
    [refresh] = session.form_posts(urlsplit(metadata["token_endpoint"]).path)[1:]
    assert refresh["grant_type"] == "refresh_token" and refresh["resource"] == url
    assert session.bearer_tokens_sent()[-1] == refreshed.access_token
    claims = verified_claims(metadata, refreshed.access_token, url)
    assert claims["sub"] == user["sub"]


class MetadataDocument(BaseHTTPRequestHandler):
    """Serves the client's metadata document at /client.json; counts the fetches."""

    document: dict = {}
    fetches: list = []

    def do_GET(self):
        if self.path != "/client.json":
            self.send_error(404)
            return
        type(self).fetches.append(self.headers.get("Accept"))
        body = json.dumps(self.document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def metadata_document():
    handler = type("Handler", (MetadataDocument,), {"fetches": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield handler, f"http://127.0.0.1:{httpd.server_address[1]}/client.json"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_sdk_uses_a_client_id_metadata_document(authsec, metadata, mcp_introspecting, metadata_document):
    # The SDK picks a metadata document over registration only when the server says it takes them.
    assert metadata.get("client_id_metadata_document_supported") is True, metadata
    handler, document_url = metadata_document
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    handler.document = {
        "client_id": document_url,
        "client_name": "MCP interop client (metadata document)",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "openid profile email",  # what the SDK asks for: the scopes_supported of Authsec's metadata
    }
    session = Session(authsec, mcp_introspecting.url, redirect_uri)
    # OAuthClientProvider(client_metadata_url=...) refuses anything but an https URL with a path;
    # the provider's context takes the loopback http URL the test can serve.
    session.provider.context.client_metadata_url = document_url
    result = run(session)

    assert session.storage.client_info.client_id == document_url
    assert not session.form_posts("/register")
    assert not any(urlsplit(u).path == "/register" for _, u, _, _ in session.sent)
    assert handler.fetches, "Authsec never fetched the metadata document"
    assert structured(result["add"]) == {"result": 42}
    assert structured(result["whoami"])["client_id"] == document_url
    claims = verified_claims(metadata, session.storage.tokens.access_token, mcp_introspecting.url)
    assert claims["client_id"] == document_url and claims["sub"] == authsec.user["sub"]


def test_jwks_verifying_server_accepts_its_tokens_and_refuses_others(authsec, metadata, mcp_jwks,
                                                                     mcp_introspecting, token_for):
    token = token_for(mcp_jwks)  # the SDK's flow against the JWKS server already called its tools
    assert verified_claims(metadata, token, mcp_jwks.url)["sub"] == authsec.user["sub"]
    assert raw_mcp_post(mcp_jwks.url, token).status_code != 401

    # A token Authsec issued for the other MCP server: a good signature, the wrong audience.
    other = token_for(mcp_introspecting)
    refused = raw_mcp_post(mcp_jwks.url, other)
    assert refused.status_code == 401, refused.text
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert "resource_metadata=" in refused.headers["WWW-Authenticate"]
    assert raw_mcp_post(mcp_jwks.url, token[:-4] + "AAAA").status_code == 401


def test_introspection_shows_a_server_only_its_own_tokens(authsec, metadata, mcp_jwks, mcp_introspecting, token_for):
    token = token_for(mcp_jwks)
    # The server the token names sees its claims; the other MCP server sees nothing.
    own = introspect(metadata, token, mcp_jwks.client)
    assert own["active"] is True and mcp_jwks.url in ([own["aud"]] if isinstance(own["aud"], str) else own["aud"])
    assert own["sub"] == authsec.user["sub"]
    assert introspect(metadata, token, mcp_introspecting.client) == {"active": False}
    # So the introspecting example server refuses it.
    refused = raw_mcp_post(mcp_introspecting.url, token)
    assert refused.status_code == 401, refused.text


def test_unregistered_resource_is_refused(authsec, metadata):
    # What the SDK would get for an MCP server Authsec does not know: invalid_target, at /authorize.
    resp = requests.post(authsec.url("/register"), timeout=HTTP_TIMEOUT, json={
        "client_name": "probe", "redirect_uris": ["http://127.0.0.1:9/callback"],
        "grant_types": ["authorization_code"], "response_types": ["code"], "token_endpoint_auth_method": "none"})
    assert resp.status_code == 201, resp.text
    client_id = resp.json()["client_id"]
    resp = requests.get(metadata["authorization_endpoint"], allow_redirects=False, timeout=HTTP_TIMEOUT, params={
        "response_type": "code", "client_id": client_id, "redirect_uri": "http://127.0.0.1:9/callback",
        "state": "s", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGjSstw-cM",
        "code_challenge_method": "S256", "resource": "http://127.0.0.1:9/not-registered"})
    params = callback_parameters(resp, "http://127.0.0.1:9/callback")
    assert params["error"] == "invalid_target"


EXAMPLE_CLIENT = REPO_ROOT / "examples" / "mcp-server" / "client.py"


def test_the_example_client_signs_in_once_and_calls_tools(authsec, mcp_introspecting):
    """The README's walkthrough: the example client against the example server; the person
    answers the sign-in URL it prints, and the browser's last redirect reaches its callback."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(EXAMPLE_CLIENT), mcp_introspecting.url, "--no-browser",
                             "--callback-port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    output: list[str] = []
    try:
        for line in iter(proc.stdout.readline, ""):
            output.append(line)
            if line.startswith("sign in at: "):
                url = line.removeprefix("sign in at: ").strip()
                browser = Browser(authsec)
                page = browser.sign_in(browser.follow(browser.get(url)), USERNAME, PASSWORD)
                if "/authorize/consent" in page.text:
                    page = browser.consent(page)
                location = page.headers["Location"]
                assert location.startswith(f"http://127.0.0.1:{port}/callback?"), location
                assert requests.get(location, timeout=HTTP_TIMEOUT).status_code == 200
        assert proc.wait(timeout=60) == 0, "".join(output)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(output)
    assert "tools: add, echo, whoami" in text, text
    assert "add(2, 40) = {'result': 42}" in text, text
    assert f"'sub': '{authsec.user['sub']}'" in text, text
