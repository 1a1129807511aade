"""Third-party-client interop test for Authsec.

Starts the real `authsec serve` binary on loopback (port 0), registers clients
with the admin CLI over the wire protocol, and then talks to the HTTP endpoints
with stock Python OAuth libraries only: Authlib's OAuth2Session (client
credentials with client_secret_post, client_secret_basic and private_key_jwt),
PyJWT (RFC 9068 access-token verification against the published JWKS) and
plain requests (RFC 7662 introspection, RFC 7009 revocation, error shapes).

Run with `bash Tests/Interop/python/run.sh`; the binary comes from the
AUTHSEC_BIN environment variable (default: .build/debug/authsec under the
repository root).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from joserfc.jwk import ECKey

REPO_ROOT = Path(__file__).resolve().parents[3]
API_AUDIENCE = "https://api.myapp.com"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
STARTUP_TIMEOUT = 30.0
HTTP_TIMEOUT = 10.0

# The seed's client body, verbatim.
SEED_CLIENT = {
    "name": "My AI Assistant",
    "description": "An intelligent conversational AI agent",
    "app_type": "ai_agent",
    "grant_types": ["client_credentials", "authorization_code"],
    "token_endpoint_auth_method": "client_secret_post",
    "callbacks": ["https://myapp.com/callback"],
    "web_origins": ["https://myapp.com"],
    "allowed_scopes": ["openid", "profile", "ai:access"],
}


def authsec_bin() -> str:
    value = os.environ.get("AUTHSEC_BIN", ".build/debug/authsec")
    path = Path(value)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return str(path)


# --------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen
    workdir: Path
    base_url: str
    issuer: str
    wire_address: str
    admin_id: str
    admin_secret: str
    stdout_lines: list = field(default_factory=list)
    stderr_path: Path | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        env.update(
            AUTHSEC_ADDRESS=self.wire_address,
            AUTHSEC_CLIENT_ID=self.admin_id,
            AUTHSEC_CLIENT_SECRET=self.admin_secret,
        )
        result = subprocess.run(
            [authsec_bin(), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"authsec {' '.join(args)} exited {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def cli_json(self, *args: str) -> dict:
        out = self.cli(*args).stdout
        try:
            return json.loads(out)
        except ValueError as exc:  # pragma: no cover - diagnostic only
            raise AssertionError(f"authsec {' '.join(args)} printed non-JSON: {out!r}") from exc

    def create_client(self, *flags: str) -> dict:
        client = self.cli_json("clients", "create", *flags, "--json")
        assert client.get("client_id"), client
        assert client.get("client_secret") or "private_key_jwt" in flags, client
        return client


def _reader(stream, sink: "queue.Queue[str | None]", lines: list) -> None:
    for line in iter(stream.readline, ""):
        lines.append(line)
        sink.put(line)
    sink.put(None)


@pytest.fixture(scope="module")
def server():
    with launch() as srv:
        yield srv


@contextlib.contextmanager
def launch(*extra_args: str, insecure_client_metadata: bool = True):
    """Starts `authsec serve` on loopback (port 0) with `extra_args`; stops it with SIGTERM."""
    binary = authsec_bin()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"authsec binary not found or not executable: {binary} (set AUTHSEC_BIN)")

    workdir = Path(tempfile.mkdtemp(prefix="authsec-interop-"))
    data_dir = workdir / "data"
    stderr_path = workdir / "stderr.log"
    stderr_file = open(stderr_path, "w")
    proc = subprocess.Popen(
        # The jwks_uri tests below serve client keys over http from loopback, which only
        # --allow-insecure-client-metadata lets the server fetch.
        [binary, "serve", "--data", str(data_dir), "--http", "127.0.0.1:0", "--wire", "127.0.0.1:0",
         *(["--allow-insecure-client-metadata"] if insecure_client_metadata else []), *extra_args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        text=True,
        bufsize=1,
    )
    lines: list = []
    sink: "queue.Queue[str | None]" = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, sink, lines), daemon=True).start()

    found: dict = {}
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while not {"admin_id", "admin_secret", "base_url", "issuer", "wire"} <= found.keys():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for the server's startup lines")
            try:
                line = sink.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"server exited early with code {proc.wait()}")
            if m := re.match(r"\s*client_id:\s+(\S+)", line):
                found["admin_id"] = m.group(1)
            elif m := re.match(r"\s*client_secret:\s+(\S+)", line):
                found["admin_secret"] = m.group(1)
            elif m := re.match(r"http listening on (\S+) \(issuer (\S+)\)", line):
                found["base_url"], found["issuer"] = m.group(1), m.group(2)
            elif m := re.match(r"wire listening on (\S+)", line):
                found["wire"] = m.group(1)
    except BaseException:
        proc.kill()
        proc.wait()
        stderr_file.close()
        raise AssertionError(
            "server did not start:\nstdout:\n" + "".join(lines)
            + "\nstderr:\n" + stderr_path.read_text()
        )

    srv = Server(
        proc=proc,
        workdir=workdir,
        base_url=found["base_url"].rstrip("/"),
        issuer=found["issuer"],
        wire_address=found["wire"],
        admin_id=found["admin_id"],
        admin_secret=found["admin_secret"],
        stdout_lines=lines,
        stderr_path=stderr_path,
    )
    try:
        yield srv
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = "timeout (killed)"
        stderr_file.close()
        shutil.rmtree(workdir, ignore_errors=True)
    assert code == 0, f"server did not exit cleanly on SIGTERM: {code}\nstdout:\n{''.join(lines)}"


@pytest.fixture(scope="module")
def metadata(server):
    resp = requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def token_endpoint(metadata):
    return metadata["token_endpoint"]


@pytest.fixture(scope="module")
def ai_scope(server):
    out = server.cli("scopes", "create", "ai:access", "--description", "Access to the AI API").stdout
    assert "ai:access" in out
    return "ai:access"


@pytest.fixture(scope="module")
def seed_client(server, ai_scope):
    path = server.workdir / "client.json"
    path.write_text(json.dumps(SEED_CLIENT))
    client = server.cli_json("clients", "create", "--file", str(path), "--json")
    assert client["name"] == "My AI Assistant"
    assert client["token_endpoint_auth_method"] == "client_secret_post"
    assert client["client_secret"]
    return client


def new_secret_client(server, auth_method: str, name: str | None = None) -> dict:
    return server.create_client(
        "--name", name or f"interop-{auth_method}-{uuid.uuid4().hex[:8]}",
        "--type", "ai_agent",
        "--grant", "client_credentials",
        "--scope", "ai:access",
        "--audience", API_AUDIENCE,
        "--auth-method", auth_method,
    )


@pytest.fixture(scope="module")
def basic_client(server, ai_scope):
    client = new_secret_client(server, "client_secret_basic", "interop basic client")
    assert client["token_endpoint_auth_method"] == "client_secret_basic"
    return client


@pytest.fixture(scope="module")
def jwk_client(metadata):
    return jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=False, timeout=HTTP_TIMEOUT)


def verify_access_token(token: str, jwk_client, issuer: str, audience: str) -> dict:
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    assert header["typ"] == "at+jwt"
    assert header.get("kid")
    key = jwk_client.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["ES256"],
        issuer=issuer,
        audience=audience,
        options={"require": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]},
    )


def session_for(client: dict, auth_method: str, **kwargs) -> OAuth2Session:
    return OAuth2Session(
        client["client_id"],
        client["client_secret"],
        token_endpoint_auth_method=auth_method,
        **kwargs,
    )


def post_token(server, data, auth=None, **kwargs) -> requests.Response:
    return requests.post(server.url("/oauth/token"), data=data, auth=auth, timeout=HTTP_TIMEOUT, **kwargs)


def assert_oauth_error(resp: requests.Response, status: int, error: str) -> dict:
    assert resp.status_code == status, f"expected {status} {error}, got {resp.status_code}: {resp.text}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert body.get("error") == error, body
    if "error_description" in body:
        assert isinstance(body["error_description"], str)
    return body


# --------------------------------------------------------------------------
# Discovery (RFC 8414) and JWKS
# --------------------------------------------------------------------------


def test_metadata_discovery(server, metadata):
    assert metadata["issuer"] == server.issuer
    assert server.issuer == server.base_url
    for name in ("token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"):
        assert metadata[name].startswith(server.issuer + "/"), (name, metadata[name])
    assert "client_credentials" in metadata["grant_types_supported"]
    for method in ("client_secret_basic", "client_secret_post", "private_key_jwt"):
        assert method in metadata["token_endpoint_auth_methods_supported"]
    assert "ES256" in metadata.get("token_endpoint_auth_signing_alg_values_supported", [])


def test_metadata_lists_no_reserved_scope(server, ai_scope):
    scopes = requests.get(server.url("/.well-known/oauth-authorization-server"),
                          timeout=HTTP_TIMEOUT).json()["scopes_supported"]
    assert "ai:access" in scopes
    for reserved in ("admin:clients", "admin:scopes", "admin:keys", "admin:users", "authsec:introspect"):
        assert reserved not in scopes


def test_discovered_token_endpoint_issues_tokens(server, metadata, seed_client, jwk_client):
    # Only what discovery returned is used here: token endpoint + jwks_uri.
    sess = session_for(seed_client, "client_secret_post")
    token = sess.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    claims = verify_access_token(token["access_token"], jwk_client, metadata["issuer"], metadata["issuer"])
    assert claims["sub"] == seed_client["client_id"]


def test_jwks_publishes_es256_public_keys_only(metadata):
    resp = requests.get(metadata["jwks_uri"], timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200
    jwks = resp.json()
    assert jwks["keys"], jwks
    es256 = [k for k in jwks["keys"] if k.get("kty") == "EC" and k.get("crv") == "P-256"]
    assert es256, jwks
    for key in jwks["keys"]:
        assert key.get("kid")
        assert "d" not in key, "JWKS must not publish private key material"
    # PyJWT can load the whole set.
    jwt.PyJWKSet.from_dict(jwks)


def test_healthz(server):
    resp = requests.get(server.url("/healthz"), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200


# --------------------------------------------------------------------------
# Client credentials with Authlib
# --------------------------------------------------------------------------


def test_authlib_client_secret_post_seed_client(server, seed_client, token_endpoint, jwk_client):
    sess = session_for(seed_client, "client_secret_post", scope="ai:access")
    token = sess.fetch_token(token_endpoint, grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer"
    assert isinstance(token["expires_in"], int) and 0 < token["expires_in"] <= 3600
    assert token.get("scope") == "ai:access"
    assert "refresh_token" not in token, "client_credentials must not issue a refresh token"

    claims = verify_access_token(token["access_token"], jwk_client, server.issuer, server.issuer)
    assert claims["iss"] == server.issuer
    assert claims["sub"] == seed_client["client_id"]
    assert claims["client_id"] == seed_client["client_id"]
    assert claims["aud"] in (server.issuer, [server.issuer])
    assert claims["scope"] == "ai:access"
    assert claims["iat"] <= time.time() + 5
    assert claims["exp"] - claims["iat"] == token["expires_in"]


def test_authlib_client_secret_basic(server, basic_client, token_endpoint, jwk_client):
    sess = session_for(basic_client, "client_secret_basic", scope="ai:access")
    token = sess.fetch_token(token_endpoint, grant_type="client_credentials")
    claims = verify_access_token(token["access_token"], jwk_client, server.issuer, server.issuer)
    assert claims["sub"] == basic_client["client_id"]
    assert claims["client_id"] == basic_client["client_id"]
    assert claims["scope"] == "ai:access"

    # The access token works as a bearer credential in Authlib's session.
    assert sess.token["access_token"] == token["access_token"]


def test_token_responses_are_not_cacheable(server, seed_client):
    resp = post_token(server, {
        "grant_type": "client_credentials",
        "client_id": seed_client["client_id"],
        "client_secret": seed_client["client_secret"],
    })
    assert resp.status_code == 200, resp.text
    assert "no-store" in resp.headers.get("Cache-Control", "")
    assert resp.headers["Content-Type"].startswith("application/json")

    bad = post_token(server, {
        "grant_type": "client_credentials",
        "client_id": seed_client["client_id"],
        "client_secret": "wrong",
    })
    assert bad.status_code == 401
    assert "no-store" in bad.headers.get("Cache-Control", "")


def test_jwt_ids_are_unique(server, seed_client):
    sess = session_for(seed_client, "client_secret_post")
    jtis = set()
    for _ in range(3):
        token = sess.fetch_token(server.url("/oauth/token"), grant_type="client_credentials")
        jtis.add(jwt.decode(token["access_token"], options={"verify_signature": False})["jti"])
    assert len(jtis) == 3


# --------------------------------------------------------------------------
# Audiences / resources (RFC 8707) and error responses (RFC 6749 §5.2)
# --------------------------------------------------------------------------


def test_requested_audience_ends_up_in_aud(server, basic_client, token_endpoint, jwk_client):
    sess = session_for(basic_client, "client_secret_basic")
    token = sess.fetch_token(token_endpoint, grant_type="client_credentials",
                             scope="ai:access", audience=API_AUDIENCE)
    claims = verify_access_token(token["access_token"], jwk_client, server.issuer, API_AUDIENCE)
    assert claims["aud"] in (API_AUDIENCE, [API_AUDIENCE])

    # A token for the API must not be accepted as one for the issuer itself.
    with pytest.raises(jwt.InvalidAudienceError):
        verify_access_token(token["access_token"], jwk_client, server.issuer, server.issuer)


def test_resource_parameter_ends_up_in_aud(server, basic_client, jwk_client):
    resp = post_token(server, {"grant_type": "client_credentials", "resource": API_AUDIENCE},
                      auth=(basic_client["client_id"], basic_client["client_secret"]))
    assert resp.status_code == 200, resp.text
    claims = verify_access_token(resp.json()["access_token"], jwk_client, server.issuer, API_AUDIENCE)
    assert claims["aud"] in (API_AUDIENCE, [API_AUDIENCE])


def test_disallowed_audience_is_invalid_target(server, basic_client, seed_client, token_endpoint):
    resp = post_token(server, {"grant_type": "client_credentials", "audience": "https://evil.example.com"},
                      auth=(basic_client["client_id"], basic_client["client_secret"]))
    assert_oauth_error(resp, 400, "invalid_target")

    # The seed client registered no audience at all, so asking for one is refused too.
    resp = post_token(server, {
        "grant_type": "client_credentials",
        "client_id": seed_client["client_id"],
        "client_secret": seed_client["client_secret"],
        "audience": API_AUDIENCE,
    })
    assert_oauth_error(resp, 400, "invalid_target")

    # Authlib surfaces it as an OAuthError carrying the RFC error code.
    sess = session_for(basic_client, "client_secret_basic")
    with pytest.raises(OAuthError) as excinfo:
        sess.fetch_token(token_endpoint, grant_type="client_credentials", resource="https://evil.example.com")
    assert excinfo.value.error == "invalid_target"


def test_scope_not_allowed_is_invalid_scope(server, seed_client, basic_client, token_endpoint):
    sess = session_for(seed_client, "client_secret_post", scope="ai:access admin:clients")
    with pytest.raises(OAuthError) as excinfo:
        sess.fetch_token(token_endpoint, grant_type="client_credentials")
    assert excinfo.value.error == "invalid_scope"

    resp = post_token(server, {"grant_type": "client_credentials", "scope": "profile"},
                      auth=(basic_client["client_id"], basic_client["client_secret"]))
    assert_oauth_error(resp, 400, "invalid_scope")


def test_wrong_secret_is_401_invalid_client(server, seed_client, basic_client, token_endpoint):
    # client_secret_post
    sess = OAuth2Session(seed_client["client_id"], "not-the-secret",
                         token_endpoint_auth_method="client_secret_post")
    with pytest.raises(OAuthError) as excinfo:
        sess.fetch_token(token_endpoint, grant_type="client_credentials")
    assert excinfo.value.error == "invalid_client"

    resp = post_token(server, {
        "grant_type": "client_credentials",
        "client_id": seed_client["client_id"],
        "client_secret": "not-the-secret",
    })
    assert_oauth_error(resp, 401, "invalid_client")

    # client_secret_basic: 401 with a WWW-Authenticate challenge (RFC 6749 §5.2)
    resp = post_token(server, {"grant_type": "client_credentials"},
                      auth=(basic_client["client_id"], "not-the-secret"))
    assert_oauth_error(resp, 401, "invalid_client")
    assert resp.headers.get("WWW-Authenticate", "").lower().startswith("basic"), resp.headers

    # unknown client
    resp = post_token(server, {"grant_type": "client_credentials"}, auth=("no-such-client", "x"))
    assert_oauth_error(resp, 401, "invalid_client")


def test_json_body_is_invalid_request(server, seed_client):
    resp = requests.post(server.url("/oauth/token"), json={
        "grant_type": "client_credentials",
        "client_id": seed_client["client_id"],
        "client_secret": seed_client["client_secret"],
    }, timeout=HTTP_TIMEOUT)
    assert_oauth_error(resp, 400, "invalid_request")


def test_unsupported_grant_type(server, seed_client):
    resp = post_token(server, {
        "grant_type": "password",
        "username": "u",
        "password": "p",
        "client_id": seed_client["client_id"],
        "client_secret": seed_client["client_secret"],
    })
    assert_oauth_error(resp, 400, "unsupported_grant_type")


def test_client_without_client_credentials_grant_is_unauthorized_client(server, ai_scope):
    client = server.create_client(
        "--name", "interop code-only client",
        "--type", "web",
        "--grant", "authorization_code",
        "--callback", "https://myapp.com/callback",
        "--scope", "ai:access",
        "--auth-method", "client_secret_basic",
    )
    resp = post_token(server, {"grant_type": "client_credentials"},
                      auth=(client["client_id"], client["client_secret"]))
    assert_oauth_error(resp, 400, "unauthorized_client")


# --------------------------------------------------------------------------
# Introspection (RFC 7662) and revocation (RFC 7009)
# --------------------------------------------------------------------------


def test_introspect_then_revoke(server, metadata, seed_client, basic_client):
    sess = session_for(seed_client, "client_secret_post", scope="ai:access")
    access_token = sess.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")["access_token"]
    introspection = metadata["introspection_endpoint"]
    # RFC 7662 §4: another client, though authenticated, learns nothing of the token.
    stranger = (basic_client["client_id"], basic_client["client_secret"])
    resp = requests.post(introspection, data={"token": access_token}, auth=stranger, timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"active": False}

    caller = (seed_client["client_id"], seed_client["client_secret"])
    resp = requests.post(introspection, data={"token": access_token, "token_type_hint": "access_token"},
                         auth=caller, timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text
    info = resp.json()
    assert info["active"] is True
    assert info["client_id"] == seed_client["client_id"]
    assert info["scope"] == "ai:access"
    assert info.get("sub") == seed_client["client_id"]
    assert info.get("iss") == server.issuer
    assert info["exp"] > time.time()

    # The token's owner revokes it (client_secret_post, as registered).
    resp = requests.post(metadata["revocation_endpoint"], data={
        "token": access_token,
        "token_type_hint": "access_token",
        "client_id": seed_client["client_id"],
        "client_secret": seed_client["client_secret"],
    }, timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text

    resp = requests.post(introspection, data={"token": access_token}, auth=caller, timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"active": False}

    # Revoking again (or revoking garbage) still answers 200 (RFC 7009 §2.2).
    resp = requests.post(metadata["revocation_endpoint"], data={
        "token": access_token,
        "client_id": seed_client["client_id"],
        "client_secret": seed_client["client_secret"],
    }, timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text


def test_resource_server_introspects_tokens_for_its_audience(server, metadata, basic_client):
    """A client registered with `resources` sees tokens whose aud names one of them, and no others."""
    resource_server = server.create_client(
        "--name", f"interop resource server {uuid.uuid4().hex[:8]}", "--resource", API_AUDIENCE)
    assert resource_server["resources"] == [API_AUDIENCE]
    auth = (resource_server["client_id"], resource_server["client_secret"])
    token_for_api = post_token(server, {
        "grant_type": "client_credentials", "resource": API_AUDIENCE,
        "client_id": basic_client["client_id"], "client_secret": basic_client["client_secret"],
    }).json()["access_token"]
    token_for_issuer = post_token(server, {
        "grant_type": "client_credentials",
        "client_id": basic_client["client_id"], "client_secret": basic_client["client_secret"],
    }).json()["access_token"]
    resp = requests.post(metadata["introspection_endpoint"], data={"token": token_for_api}, auth=auth,
                         timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text
    assert resp.json()["active"] is True
    assert resp.json()["aud"] == API_AUDIENCE
    resp = requests.post(metadata["introspection_endpoint"], data={"token": token_for_issuer}, auth=auth,
                         timeout=HTTP_TIMEOUT)
    assert resp.json() == {"active": False}


def test_introspect_unknown_token_is_inactive(server, metadata, basic_client):
    resp = requests.post(metadata["introspection_endpoint"], data={"token": "not-a-token"},
                         auth=(basic_client["client_id"], basic_client["client_secret"]),
                         timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"active": False}


def test_introspection_requires_client_authentication(server, metadata, seed_client):
    sess = session_for(seed_client, "client_secret_post")
    access_token = sess.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")["access_token"]
    resp = requests.post(metadata["introspection_endpoint"], data={"token": access_token}, timeout=HTTP_TIMEOUT)
    assert_oauth_error(resp, 401, "invalid_client")
    assert "active" not in resp.json()


# --------------------------------------------------------------------------
# private_key_jwt (RFC 7523) with Authlib
# --------------------------------------------------------------------------


@dataclass
class KeyClient:
    client_id: str
    private_key: ec.EllipticCurvePrivateKey
    private_pem: bytes
    kid: str


@pytest.fixture(scope="module")
def private_key_jwt_client(server, ai_scope) -> KeyClient:
    private_key = ec.generate_private_key(ec.SECP256R1())
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    kid = "interop-" + uuid.uuid4().hex[:8]
    public_jwk = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
    public_jwk.update(kid=kid, use="sig", alg="ES256")
    assert "d" not in public_jwk
    jwks_path = server.workdir / "client-jwks.json"
    jwks_path.write_text(json.dumps({"keys": [public_jwk]}))

    client = server.cli_json(
        "clients", "create",
        "--name", "interop private_key_jwt client",
        "--type", "ai_agent",
        "--grant", "client_credentials",
        "--scope", "ai:access",
        "--audience", API_AUDIENCE,
        "--auth-method", "private_key_jwt",
        "--jwks-file", str(jwks_path),
        "--json",
    )
    assert client["token_endpoint_auth_method"] == "private_key_jwt"
    assert not client.get("client_secret"), "a private_key_jwt client must not be handed a secret"
    return KeyClient(client["client_id"], private_key, private_pem, kid)


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's PrivateKeyJWT with a 2-minute assertion lifetime.

    Stock PrivateKeyJWT signs assertions with exp = iat + 3600, which Authsec
    refuses (it accepts at most 5 minutes, as RFC 7523 §3 allows). Authlib's
    `claims=` hook can't be used for a short exp: it would freeze the jti of
    every assertion into that shared dict. Only the lifetime differs here; the
    claims, signing and wire format are Authlib's.
    """

    def sign(self, auth, token_endpoint):
        from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign

        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            claims=None,
            header=self.headers,
            alg=self.alg,
            expires_in=120,
        )


def make_assertion(client: KeyClient, audience: str, *, jti: str | None = None,
                   lifetime: int = 120, iss: str | None = None) -> str:
    now = int(time.time())
    return jwt.encode(
        {
            "iss": iss or client.client_id,
            "sub": client.client_id,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
            "jti": jti or uuid.uuid4().hex,
        },
        client.private_key,
        algorithm="ES256",
        headers={"kid": client.kid},
    )


def test_authlib_private_key_jwt(server, private_key_jwt_client, token_endpoint, jwk_client):
    key = ECKey.import_key(private_key_jwt_client.private_pem)
    auth = ShortLivedPrivateKeyJWT(token_endpoint, alg="ES256", headers={"kid": private_key_jwt_client.kid})
    sess = OAuth2Session(private_key_jwt_client.client_id, key, token_endpoint_auth_method=auth, scope="ai:access")

    token = sess.fetch_token(token_endpoint, grant_type="client_credentials", audience=API_AUDIENCE)
    claims = verify_access_token(token["access_token"], jwk_client, server.issuer, API_AUDIENCE)
    assert claims["sub"] == private_key_jwt_client.client_id
    assert claims["client_id"] == private_key_jwt_client.client_id
    assert claims["scope"] == "ai:access"

    # Every call signs a fresh assertion (new jti), so repeating works.
    again = sess.fetch_token(token_endpoint, grant_type="client_credentials")
    verify_access_token(again["access_token"], jwk_client, server.issuer, server.issuer)


def test_private_key_jwt_issuer_as_audience(server, private_key_jwt_client):
    resp = post_token(server, {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": make_assertion(private_key_jwt_client, server.issuer),
    })
    assert resp.status_code == 200, resp.text


def test_private_key_jwt_replayed_assertion_is_refused(server, private_key_jwt_client, token_endpoint):
    assertion = make_assertion(private_key_jwt_client, token_endpoint, jti="replay-" + uuid.uuid4().hex)
    form = {
        "grant_type": "client_credentials",
        "client_id": private_key_jwt_client.client_id,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
    }
    first = post_token(server, form)
    assert first.status_code == 200, first.text
    assert first.json()["access_token"]

    replay = post_token(server, form)
    assert_oauth_error(replay, 401, "invalid_client")


def test_private_key_jwt_bad_assertions_are_refused(server, private_key_jwt_client, token_endpoint):
    def attempt(assertion: str) -> requests.Response:
        return post_token(server, {
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
        })

    # Signed by a key the client never registered.
    stranger = KeyClient(private_key_jwt_client.client_id, ec.generate_private_key(ec.SECP256R1()),
                         b"", private_key_jwt_client.kid)
    assert_oauth_error(attempt(make_assertion(stranger, token_endpoint)), 401, "invalid_client")
    # Wrong audience.
    assert_oauth_error(attempt(make_assertion(private_key_jwt_client, "https://other.example.com/token")),
                       401, "invalid_client")
    # iss != sub.
    assert_oauth_error(attempt(make_assertion(private_key_jwt_client, token_endpoint, iss="someone-else")),
                       401, "invalid_client")
    # Expiry too far ahead (Authlib's default 1 h lifetime falls here).
    assert_oauth_error(attempt(make_assertion(private_key_jwt_client, token_endpoint, lifetime=3600)),
                       401, "invalid_client")
    # Already expired.
    assert_oauth_error(attempt(make_assertion(private_key_jwt_client, token_endpoint, lifetime=-120)),
                       401, "invalid_client")


def test_private_key_jwt_client_cannot_use_a_secret(server, private_key_jwt_client):
    resp = post_token(server, {"grant_type": "client_credentials"},
                      auth=(private_key_jwt_client.client_id, "guess"))
    assert_oauth_error(resp, 401, "invalid_client")


# --------------------------------------------------------------------------
# Secret rotation
# --------------------------------------------------------------------------


def fetch_with(server, client_id: str, secret: str, auth_method: str) -> dict:
    sess = OAuth2Session(client_id, secret, token_endpoint_auth_method=auth_method)
    return sess.fetch_token(server.url("/oauth/token"), grant_type="client_credentials")


def test_rotation_with_overlap_keeps_old_secret(server, ai_scope, jwk_client):
    client = new_secret_client(server, "client_secret_basic")
    old_secret = client["client_secret"]
    fetch_with(server, client["client_id"], old_secret, "client_secret_basic")

    rotated = server.cli_json("clients", "rotate-secret", client["client_id"],
                              "--keep-previous-for", "1h", "--json")
    new_secret = rotated["client_secret"]
    assert rotated["client_id"] == client["client_id"]
    assert new_secret and new_secret != old_secret

    for secret in (new_secret, old_secret):
        token = fetch_with(server, client["client_id"], secret, "client_secret_basic")
        claims = verify_access_token(token["access_token"], jwk_client, server.issuer, server.issuer)
        assert claims["sub"] == client["client_id"]

    resp = post_token(server, {"grant_type": "client_credentials"}, auth=(client["client_id"], "neither"))
    assert_oauth_error(resp, 401, "invalid_client")


def test_rotation_without_overlap_revokes_old_secret(server, ai_scope):
    client = new_secret_client(server, "client_secret_post")
    old_secret = client["client_secret"]
    fetch_with(server, client["client_id"], old_secret, "client_secret_post")

    rotated = server.cli_json("clients", "rotate-secret", client["client_id"], "--json")
    new_secret = rotated["client_secret"]
    assert new_secret and new_secret != old_secret

    assert fetch_with(server, client["client_id"], new_secret, "client_secret_post")["access_token"]

    resp = post_token(server, {
        "grant_type": "client_credentials",
        "client_id": client["client_id"],
        "client_secret": old_secret,
    })
    assert_oauth_error(resp, 401, "invalid_client")

    with pytest.raises(OAuthError) as excinfo:
        fetch_with(server, client["client_id"], old_secret, "client_secret_post")
    assert excinfo.value.error == "invalid_client"


# --------------------------------------------------------------------------
# The admin CLI against the same server, cross-checked over HTTP
# --------------------------------------------------------------------------


def test_cli_token_verifies_with_pyjwt(server, seed_client, jwk_client):
    token = server.cli("token", "--client-id", seed_client["client_id"],
                       "--client-secret", seed_client["client_secret"]).stdout.strip()
    claims = verify_access_token(token, jwk_client, server.issuer, server.issuer)
    assert claims["client_id"] == seed_client["client_id"]

    info = server.cli_json("introspect", token, "--json")
    assert info["active"] is True
    assert info["client_id"] == seed_client["client_id"]


# --------------------------------------------------------------------------
# private_key_jwt with keys from a jwks_uri (RFC 7523 §2.2, RFC 7591 §2)
# --------------------------------------------------------------------------

JWKS_FETCH_TIMEOUT = 2.0  # the server's jwks_uri fetch timeout
JWKS_MAX_BYTES = 64 * 1024  # the server's jwks_uri size cap
SLOW_JWKS_DELAY = 5.0


class JWKSHost:
    """A loopback HTTP server publishing client JWK Sets, counting requests per path.

    Each route is path -> (body, delay seconds). A ThreadingHTTPServer, so a
    handler that stalls (the "never answers" route) does not hold up others.
    """

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        host = self
        self.routes: dict[str, tuple[bytes, float]] = {}
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - http.server's spelling
                path = self.path.split("?", 1)[0]
                with host.lock:
                    host.hits[path] = host.hits.get(path, 0) + 1
                    route = host.routes.get(path)
                try:
                    if route is None:
                        self.send_error(404)
                        return
                    body, delay = route
                    if delay:
                        time.sleep(delay)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the authorization server gave up waiting, as it should

            def log_message(self, format, *args):  # quiet
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # The authorization server hangs up mid-body on the oversized
                # route and mid-sleep on the slow one; that is expected.
                import sys

                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, document, *, delay: float = 0.0) -> str:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        with self.lock:
            self.routes[path] = (body, delay)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits.get(path, 0)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def jwks_host():
    host = JWKSHost()
    try:
        yield host
    finally:
        host.close()


def new_es256_key() -> tuple[ec.EllipticCurvePrivateKey, str, dict]:
    private_key = ec.generate_private_key(ec.SECP256R1())
    kid = "uri-" + uuid.uuid4().hex[:8]
    public_jwk = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
    public_jwk.update(kid=kid, use="sig", alg="ES256")
    assert "d" not in public_jwk
    return private_key, kid, public_jwk


def register_jwks_uri_client(server, jwks_uri: str, name: str) -> dict:
    client = server.create_client(
        "--name", name,
        "--type", "ai_agent",
        "--grant", "client_credentials",
        "--auth-method", "private_key_jwt",
        "--jwks-uri", jwks_uri,
    )
    assert client["token_endpoint_auth_method"] == "private_key_jwt"
    assert client.get("jwks_uri") == jwks_uri, client
    assert not client.get("client_secret"), "a private_key_jwt client must not be handed a secret"
    return client


def key_client_at(server, jwks_host: JWKSHost, path: str, name: str, *, pad_to: int = 0,
                  delay: float = 0.0) -> KeyClient:
    """Registers a private_key_jwt client whose JWK Set lives at jwks_host's `path`.

    pad_to > 0 grows the (otherwise valid) document to at least that many bytes
    with an extra top-level member, which JWK Set parsers ignore (RFC 7517 §5).
    """
    private_key, kid, public_jwk = new_es256_key()
    document = {"keys": [public_jwk]}
    body = json.dumps(document).encode()
    if pad_to:
        document["x-padding"] = "A" * max(0, pad_to - len(body) - len(', "x-padding": ""'))
        body = json.dumps(document).encode()
        assert len(body) >= pad_to
        json.loads(body)  # still well-formed JSON
    uri = jwks_host.serve(path, body, delay=delay)
    client = register_jwks_uri_client(server, uri, name)
    return KeyClient(client["client_id"], private_key, b"", kid)


def assertion_form(client: KeyClient, audience: str) -> dict:
    return {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": make_assertion(client, audience),  # exp = now + 120, fresh jti
    }


@pytest.fixture(scope="module")
def jwks_uri_client(server, jwks_host) -> KeyClient:
    return key_client_at(server, jwks_host, "/jwks.json", "interop jwks_uri client")


def test_private_key_jwt_with_jwks_uri(server, jwks_host, jwks_uri_client, token_endpoint, jwk_client):
    resp = post_token(server, assertion_form(jwks_uri_client, token_endpoint))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["access_token"], body
    assert body["token_type"].lower() == "bearer"
    claims = verify_access_token(body["access_token"], jwk_client, server.issuer, server.issuer)
    assert claims["sub"] == jwks_uri_client.client_id
    assert claims["client_id"] == jwks_uri_client.client_id
    # The key really came from the jwks_uri.
    assert jwks_host.count("/jwks.json") >= 1


def test_jwks_uri_document_is_cached(server, jwks_host, jwks_uri_client, token_endpoint):
    first = post_token(server, assertion_form(jwks_uri_client, token_endpoint))
    assert first.status_code == 200, first.text
    fetched = jwks_host.count("/jwks.json")
    assert fetched >= 1, "the JWK Set was never fetched from the jwks_uri"

    for _ in range(2):
        again = post_token(server, assertion_form(jwks_uri_client, token_endpoint))
        assert again.status_code == 200, again.text
    assert jwks_host.count("/jwks.json") == fetched, (
        f"jwks_uri fetched again within seconds: {fetched} -> {jwks_host.count('/jwks.json')} requests"
    )
    # One fetch for the whole module: everything here is well inside the cache lifetime.
    assert fetched == 1, f"jwks_uri fetched {fetched} times; the document should be cached after the first"


def test_jwks_uri_document_over_64k_is_refused(server, jwks_host, token_endpoint):
    # Control: the same padding, kept under the cap, is accepted, so the
    # refusal below is down to size alone.
    under = key_client_at(server, jwks_host, "/under-cap/jwks.json", "interop jwks_uri under cap",
                          pad_to=60 * 1024)
    resp = post_token(server, assertion_form(under, token_endpoint))
    assert resp.status_code == 200, resp.text

    over = key_client_at(server, jwks_host, "/oversized/jwks.json", "interop jwks_uri oversized",
                         pad_to=70 * 1024)
    assert len(jwks_host.routes["/oversized/jwks.json"][0]) > JWKS_MAX_BYTES
    resp = post_token(server, assertion_form(over, token_endpoint))
    assert_oauth_error(resp, 401, "invalid_client")
    assert jwks_host.count("/oversized/jwks.json") >= 1, "the server never fetched the oversized jwks_uri"


def test_jwks_uri_that_never_answers_times_out(server, jwks_host, token_endpoint):
    slow = key_client_at(server, jwks_host, "/slow/jwks.json", "interop jwks_uri slow",
                         delay=SLOW_JWKS_DELAY)
    started = time.monotonic()
    resp = post_token(server, assertion_form(slow, token_endpoint))
    elapsed = time.monotonic() - started
    assert_oauth_error(resp, 401, "invalid_client")
    assert elapsed < 4.0, (
        f"token request took {elapsed:.2f}s; the jwks_uri fetch should give up after {JWKS_FETCH_TIMEOUT}s"
    )
    assert jwks_host.count("/slow/jwks.json") >= 1, "the server never tried the slow jwks_uri"
    # The failure is remembered for a few seconds: the next assertion fails at once, unfetched.
    fetched = jwks_host.count("/slow/jwks.json")
    started = time.monotonic()
    resp = post_token(server, assertion_form(slow, token_endpoint))
    assert_oauth_error(resp, 401, "invalid_client")
    assert time.monotonic() - started < 1.0, "a jwks_uri that just failed was waited on again"
    assert jwks_host.count("/slow/jwks.json") == fetched


def test_jwks_uri_key_rotation_is_picked_up(server, jwks_host, token_endpoint):
    # A client that rotates its key: assertions signed with the new key work once the cached
    # copy of its JWK Set is a few seconds old, without waiting out the five-minute cache.
    rotating = key_client_at(server, jwks_host, "/rotating/jwks.json", "interop jwks_uri rotating")
    resp = post_token(server, assertion_form(rotating, token_endpoint))
    assert resp.status_code == 200, resp.text
    private_key, kid, public_jwk = new_es256_key()
    jwks_host.serve("/rotating/jwks.json", {"keys": [public_jwk]})
    rotated = KeyClient(rotating.client_id, private_key, b"", kid)
    time.sleep(5.5)
    resp = post_token(server, assertion_form(rotated, token_endpoint))
    assert resp.status_code == 200, resp.text
    assert jwks_host.count("/rotating/jwks.json") == 2


def test_non_loopback_http_jwks_uri_is_refused(server):
    result = server.cli(
        "clients", "create",
        "--name", "interop jwks_uri over plain http",
        "--type", "ai_agent",
        "--grant", "client_credentials",
        "--auth-method", "private_key_jwt",
        "--jwks-uri", "http://example.com/jwks.json",
        "--json",
        check=False,
    )
    assert result.returncode == 1, (
        f"expected exit 1, got {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    assert "jwks_uri" in result.stderr, result.stderr
