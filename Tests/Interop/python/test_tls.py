"""TLS on both doors, from outside, with Python's own TLS stack (OpenSSL) and `requests`.

The certificates are made at test time by scripts/make-test-certs.sh (openssl): a CA and server
certificates for localhost / 127.0.0.1. Covered: a token over HTTPS with an https issuer, a wire
token through the CLI with --ca-file, TLS 1.0 / 1.1 and non-AEAD TLS 1.2 ciphers refused, plain
text on either door closed unanswered, the handshake deadline, the connection caps over TLS,
a wire client's half-close after close_notify, SIGHUP reloading the certificate while open
connections keep theirs, and failed reloads.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import jwt
import pytest
import requests

from test_interop import HTTP_TIMEOUT, REPO_ROOT, authsec_bin, launch
from test_limits import closed_within, read_frames, status_code, token_frame

DEADLINE_SECONDS = 2


# --------------------------------------------------------------------------
# Certificates and helpers
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "make-test-certs.sh"), str(directory)], check=True)
    return directory


def tls_flags(cert: Path, key: Path) -> list[str]:
    return ["--tls-cert", str(cert), "--tls-key", str(key)]


@pytest.fixture(scope="module")
def server(certs):
    with launch(*tls_flags(certs / "server.pem", certs / "server.key"),
                "--request-deadline", f"{DEADLINE_SECONDS}s") as srv:
        yield srv


def address(url_or_address: str) -> tuple[str, int]:
    host, port = url_or_address.removeprefix("https://").removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def http_address(server) -> tuple[str, int]:
    return address(server.base_url)


def wire_address(server) -> tuple[str, int]:
    return address(server.wire_address)


def trusting(ca: Path) -> ssl.SSLContext:
    """A client context that trusts only `ca` and checks the server's name (the default)."""
    return ssl.create_default_context(cafile=str(ca))


def fingerprint_of_file(pem: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.read_text())).hexdigest()


def fingerprint(sock: ssl.SSLSocket) -> str:
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


def connect_tls(addr: tuple[str, int], context: ssl.SSLContext, server_hostname: str = "127.0.0.1") -> ssl.SSLSocket:
    raw = socket.create_connection(addr, timeout=HTTP_TIMEOUT)
    return context.wrap_socket(raw, server_hostname=server_hostname)


def handshake_error(addr: tuple[str, int], context: ssl.SSLContext) -> ssl.SSLError:
    """The error a handshake with `context` ends in; fails the test if it succeeds."""
    with pytest.raises(ssl.SSLError) as caught:
        connect_tls(addr, context).close()
    return caught.value


def insecure_context(minimum: ssl.TLSVersion, maximum: ssl.TLSVersion, ciphers: str | None = None) -> ssl.SSLContext:
    """A client that offers only the versions (and TLS 1.2 ciphers) given; it trusts anything,
    since what is tested is what the server agrees to."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # Security level 0 lets this OpenSSL offer TLS 1.0/1.1 at all (they need SHA-1).
    context.set_ciphers((ciphers or "DEFAULT") + ":@SECLEVEL=0")
    context.minimum_version = minimum
    context.maximum_version = maximum
    return context


def wire_token(sock, server, request_id: int) -> int:
    """Sends one token frame on `sock` and returns the response's status code (0 is OK)."""
    sock.sendall(token_frame(server, request_id))
    frames = read_frames(sock, 1)
    assert len(frames) == 1, "no answer"
    return status_code(frames[0])


def wait_for_log(server, text: str, after: int, timeout: float = 10.0) -> str:
    """Waits until the server's stderr, past its first `after` bytes, contains `text`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = server.stderr_path.read_text()[after:]
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"the server did not log {text!r}; stderr:\n{server.stderr_path.read_text()}")


# --------------------------------------------------------------------------
# Tokens over TLS
# --------------------------------------------------------------------------


def test_token_over_https_with_an_https_issuer(server, certs):
    ca = str(certs / "ca.pem")
    assert server.base_url.startswith("https://127.0.0.1:")
    assert server.issuer == server.base_url
    meta = requests.get(server.url("/.well-known/oauth-authorization-server"), verify=ca, timeout=HTTP_TIMEOUT)
    assert meta.status_code == 200, meta.text
    metadata = meta.json()
    assert metadata["issuer"] == server.base_url
    urls = {name: value for name, value in metadata.items() if name.endswith(("_endpoint", "_uri"))}
    assert urls and all(value.startswith(server.base_url + "/") for value in urls.values()), urls

    resp = requests.post(metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                         auth=(server.admin_id, server.admin_secret), verify=ca, timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text
    token = resp.json()["access_token"]
    jwks = requests.get(metadata["jwks_uri"], verify=ca, timeout=HTTP_TIMEOUT).json()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key.key, algorithms=["ES256"], issuer=server.base_url, options={"verify_aud": False})
    assert claims["iss"] == server.base_url

    # A client that does not trust the CA refuses the server.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(server.url("/healthz"), timeout=HTTP_TIMEOUT)


def test_wire_token_through_the_cli_with_a_ca_file(server, certs):
    token = server.cli("token", "--ca-file", str(certs / "ca.pem")).stdout.strip()
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == server.base_url
    # AUTHSEC_CA_FILE does the same, for any command.
    listing = subprocess.run(
        [authsec_bin(), "clients", "list", "--json"],
        env={**os.environ, "AUTHSEC_ADDRESS": server.wire_address, "AUTHSEC_CLIENT_ID": server.admin_id,
             "AUTHSEC_CLIENT_SECRET": server.admin_secret, "AUTHSEC_CA_FILE": str(certs / "ca.pem")},
        capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert server.admin_id in listing.stdout


def test_tls_flag_without_a_trusted_ca_fails_verification_clearly(server):
    result = server.cli("token", "--tls", check=False)
    assert result.returncode == 1
    assert result.stderr == f"error: {server.wire_address}: TLS handshake failed: certificate verify failed\n"


# --------------------------------------------------------------------------
# Versions and ciphers
# --------------------------------------------------------------------------


@pytest.mark.parametrize("door", ["http", "wire"])
def test_tls_1_3_by_default_and_tls_1_2_with_aead_ciphers_only(server, certs, door):
    addr = http_address(server) if door == "http" else wire_address(server)
    with connect_tls(addr, trusting(certs / "ca.pem")) as sock:
        assert sock.version() == "TLSv1.3"
    for cipher in ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"]:
        context = insecure_context(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, cipher)
        with connect_tls(addr, context) as sock:
            assert sock.version() == "TLSv1.2"
            assert sock.cipher()[0] == cipher
    # CBC and non-ECDHE suites are refused.
    for cipher in ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"]:
        error = handshake_error(addr, insecure_context(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, cipher))
        assert "HANDSHAKE_FAILURE" in str(error) or "NO_SHARED_CIPHER" in str(error), error


def client_hello(context: ssl.SSLContext) -> bytes:
    """The ClientHello `context` sends, made in memory."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    maker = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        maker.do_handshake()
    return outgoing.read()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("door", ["http", "wire"])
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_a_client_offering_only_tls_1_0_or_1_1_is_refused(server, door, version):
    """The client really offers the old version — at security level 0 this OpenSSL still sends a
    ClientHello whose client_version is 3.1 (TLS 1.0) or 3.2 (TLS 1.1) — and the server answers
    with a protocol_version alert: the refusal is the server's."""
    addr = http_address(server) if door == "http" else wire_address(server)
    context = insecure_context(version, version)
    hello = client_hello(context)
    assert hello[0] == 22 and hello[5] == 1, "not a ClientHello record"
    assert hello[9:11] == (b"\x03\x01" if version == ssl.TLSVersion.TLSv1 else b"\x03\x02"), hello[:11].hex()
    error = handshake_error(addr, context)
    assert "TLSV1_ALERT_PROTOCOL_VERSION" in str(error), error
    # The server is unharmed.
    with connect_tls(addr, trusting_any()) as sock:
        assert sock.version() == "TLSv1.3"


def trusting_any() -> ssl.SSLContext:
    return insecure_context(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)


# --------------------------------------------------------------------------
# Peers that do not speak TLS, or too slowly
# --------------------------------------------------------------------------


def closed_without_answer(addr: tuple[str, int], payload: bytes, within: float = 5.0) -> bytes:
    """Sends `payload` in plain text and returns what came back before the server closed; fails
    if it does not close within `within` seconds."""
    sock = socket.create_connection(addr, timeout=HTTP_TIMEOUT)
    sock.sendall(payload)
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise AssertionError(f"not closed within {within} s; received {received!r}")
    finally:
        sock.close()
    return received


def test_plain_http_on_the_tls_http_door_gets_no_answer_and_is_closed(server):
    received = closed_without_answer(http_address(server), b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    # At most a TLS alert record (content type 21), never an HTTP response.
    assert received == b"" or received[0] == 21, received
    assert b"HTTP/" not in received
    assert server.proc.poll() is None


def test_plain_frames_on_the_tls_wire_door_get_no_answer_and_are_closed(server):
    received = closed_without_answer(wire_address(server), token_frame(server, 1) * 3)
    assert received == b"" or received[0] == 21, received
    assert server.proc.poll() is None
    with connect_tls(wire_address(server), trusting_any()) as sock:
        assert wire_token(sock, server, 7) == 0


@pytest.mark.parametrize("door", ["http", "wire"])
def test_a_silent_or_trickling_handshake_is_cut_at_the_request_deadline(server, door):
    addr = http_address(server) if door == "http" else wire_address(server)
    # Silent: sends nothing at all.
    silent = socket.create_connection(addr, timeout=HTTP_TIMEOUT)
    started = time.monotonic()
    assert closed_within(silent, DEADLINE_SECONDS + 4)
    assert time.monotonic() - started >= DEADLINE_SECONDS - 0.5
    silent.close()
    # Trickling: a real ClientHello, one byte every 0.2 s, closed at the deadline all the same.
    hello = client_hello(trusting_any())
    trickler = socket.create_connection(addr, timeout=HTTP_TIMEOUT)
    started = time.monotonic()
    closed = False
    try:
        for byte in hello[:-1]:
            trickler.sendall(bytes([byte]))
            time.sleep(0.2)
            if time.monotonic() - started > DEADLINE_SECONDS + 4:
                break
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    closed = closed or closed_within(trickler, 1)
    elapsed = time.monotonic() - started
    trickler.close()
    assert closed, "a trickled handshake outlived the deadline"
    assert DEADLINE_SECONDS - 0.5 <= elapsed <= DEADLINE_SECONDS + 5, elapsed


def test_wire_client_that_sends_close_notify_and_half_closes_gets_every_answer(server, certs):
    """TLS on a memory BIO, so the client can send close_notify and a FIN after its requests and
    still read: the server answers all of them, then closes."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = trusting(certs / "ca.pem").wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    sock = socket.create_connection(wire_address(server), timeout=HTTP_TIMEOUT)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            incoming.write(sock.recv(65536))
    tls.write(b"".join(token_frame(server, request_id) for request_id in range(1, 51)))
    with pytest.raises(ssl.SSLWantReadError):
        tls.unwrap()  # queues close_notify; the server's comes later
    sock.sendall(outgoing.read())
    sock.shutdown(socket.SHUT_WR)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    incoming.write(received)
    incoming.write_eof()
    plain = b""
    with contextlib.suppress(ssl.SSLZeroReturnError):
        while chunk := tls.read(65536):
            plain += chunk
    codes = []
    while len(plain) >= 4:
        length = struct.unpack(">I", plain[:4])[0]
        codes.append(status_code(plain[4:4 + length]))
        plain = plain[4 + length:]
    assert codes == [0] * 50


@pytest.mark.parametrize("door", ["http", "wire"])
def test_connection_caps_apply_over_tls(certs, door):
    """A connection over the cap still completes its handshake and gets its one refusal, over TLS."""
    ca = trusting(certs / "ca.pem")
    with launch(*tls_flags(certs / "server.pem", certs / "server.key"),
                "--max-connections-per-address", "2") as srv:
        addr = http_address(srv) if door == "http" else wire_address(srv)
        held = [connect_tls(addr, ca) for _ in range(2)]
        try:
            if door == "http":
                resp = requests.get(srv.url("/healthz"), verify=str(certs / "ca.pem"), timeout=HTTP_TIMEOUT)
                assert resp.status_code == 503
                assert resp.headers["Retry-After"] == "1"
            else:
                with connect_tls(addr, ca) as refused:
                    frames = read_frames(refused, 1)
                    assert len(frames) == 1 and status_code(frames[0]) == 8  # RESOURCE_EXHAUSTED
                    assert b"too_many_connections" in frames[0]
                    assert closed_within(refused, 5)
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.3)
        with connect_tls(wire_address(srv), ca) as sock:
            assert wire_token(sock, srv, 1) == 0
        resp = requests.get(srv.url("/healthz"), verify=str(certs / "ca.pem"), timeout=HTTP_TIMEOUT)
        assert resp.status_code == 200


# --------------------------------------------------------------------------
# SIGHUP: reload the certificate without dropping connections
# --------------------------------------------------------------------------


def install(source_pem: Path, source_key: Path, cert: Path, key: Path) -> None:
    """Replaces the served files atomically, as a deployment tool would."""
    for source, target in ((source_pem, cert), (source_key, key)):
        staging = target.with_suffix(".new")
        shutil.copyfile(source, staging)
        os.replace(staging, target)


def test_sighup_reloads_the_certificate_and_keeps_open_connections(certs, tmp_path):
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    install(certs / "server.pem", certs / "server.key", cert, key)
    first, second = fingerprint_of_file(certs / "server.pem"), fingerprint_of_file(certs / "server2.pem")
    assert first != second
    ca = trusting(certs / "ca.pem")
    with launch(*tls_flags(cert, key)) as srv:
        host, port = http_address(srv)
        old_http = http.client.HTTPSConnection(host, port, context=ca, timeout=HTTP_TIMEOUT)
        old_http.request("GET", "/healthz")
        assert old_http.getresponse().read() and old_http.sock is not None
        old_http_socket = old_http.sock
        old_wire = connect_tls(wire_address(srv), ca)
        assert wire_token(old_wire, srv, 1) == 0
        assert fingerprint(old_http_socket) == first and fingerprint(old_wire) == first

        install(certs / "server2.pem", certs / "server2.key", cert, key)
        logged = len(srv.stderr_path.read_text())
        srv.proc.send_signal(signal.SIGHUP)
        wait_for_log(srv, "TLS certificate reloaded", logged)

        # The connections opened before the reload keep working, with the certificate they had.
        old_http.request("GET", "/healthz")
        response = old_http.getresponse()
        assert response.status == 200 and response.read()
        assert old_http.sock is old_http_socket, "the HTTP connection was reopened"
        assert wire_token(old_wire, srv, 2) == 0
        assert fingerprint(old_http_socket) == first and fingerprint(old_wire) == first
        # New connections to both doors see the new certificate.
        for addr in (http_address(srv), wire_address(srv)):
            with connect_tls(addr, ca) as sock:
                assert fingerprint(sock) == second
        with connect_tls(wire_address(srv), ca) as sock:
            assert wire_token(sock, srv, 3) == 0

        # A reload that fails keeps the current certificate and logs why: a key that does not
        # match, then a certificate file that is gone.
        shutil.copyfile(certs / "server.key", key)
        logged = len(srv.stderr_path.read_text())
        srv.proc.send_signal(signal.SIGHUP)
        log = wait_for_log(srv, "TLS reload failed", logged)
        assert "does not match the certificate" in log, log
        cert.unlink()
        logged = len(srv.stderr_path.read_text())
        srv.proc.send_signal(signal.SIGHUP)
        log = wait_for_log(srv, "TLS reload failed", logged)
        assert "No such file or directory" in log, log
        for addr in (http_address(srv), wire_address(srv)):
            with connect_tls(addr, ca) as sock:
                assert fingerprint(sock) == second
        assert requests.get(srv.url("/healthz"), verify=str(certs / "ca.pem"), timeout=HTTP_TIMEOUT).status_code == 200
        old_http.close()
        old_wire.close()
        assert srv.proc.poll() is None
