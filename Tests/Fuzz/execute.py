"""Runs one input against the server and applies the response-level oracle.

Each `run_*` raises `Failure` for a broken invariant:
  - HTTP: a 5xx other than 503 (starting) and 507 (store full); no answer to a complete request.
  - wire: status INTERNAL (13); a response that is not a `Response`; no answer to a complete frame.
  - client files: the CLI killed by a signal, hung, or exiting other than 0, 1 or 64.
The process-level oracle (alive, /healthz, memory) is `Server.check`, run by the caller after.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import tempfile
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import httpraw
import wireproto
from corpus import Input
from harness import Failure, Server, normalize, signal_name
from values import Vars, fill_http

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
WIRE_DEADLINE = 10.0
HTTP_DEADLINE = 10.0
# How long to wait for what a malformed request earns (an error, or a close), when none is owed.
HTTP_LINGER = 0.4
OK_5XX = (503, 507)
# Set by `fuzz.py --replay`: print what the server answered.
VERBOSE = False


def trace(text: str) -> None:
    if VERBOSE:
        print("    " + text, flush=True)


def run(server: Server, inp: Input) -> None:
    if inp.type == "wire":
        run_wire(server, inp)
    elif inp.type == "http":
        run_http(server, inp)
    elif inp.type == "assertion":
        run_assertion(server, inp)
    elif inp.type == "client":
        run_client_file(server, inp)
    else:
        raise ValueError(inp.type)


# ---------------------------------------------------------------------------- wire


def request_calls(stream: bytes) -> dict:
    """id -> call name for every complete frame of `stream` that decodes as a Request."""
    pb = wireproto.pb()
    calls, pos = {}, 0
    while len(stream) - pos >= 4:
        length = int.from_bytes(stream[pos:pos + 4], "big")
        if length > wireproto.MAX_FRAME or len(stream) - pos - 4 < length:
            break
        req = pb.Request()
        try:
            req.ParseFromString(stream[pos + 4:pos + 4 + length])
            call = req.WhichOneof("call") or "(no call)"
            # An id sent twice (a mutation can make one) names no single call.
            calls[req.id] = call if calls.get(req.id, call) == call else "?"
        except Exception:
            pass
        pos += 4 + length
    return calls


def check_wire_responses(frames: list, calls: dict, what: str) -> list:
    pb = wireproto.pb()
    out = []
    for raw in frames:
        resp = pb.Response()
        try:
            resp.ParseFromString(raw)
        except Exception:
            raise Failure("wire-bad-response: the server sent a frame that is not a Response",
                          f"{what}: {raw[:200]!r}")
        trace(f"wire answer id {resp.id} ({calls.get(resp.id, '?')}): "
              f"{wireproto.STATUS_NAMES.get(resp.status.code, resp.status.code)} {resp.status.error} "
              f"{resp.status.message[:150]!r}")
        if resp.status.code == 13:
            call = calls.get(resp.id, "?")
            raise Failure(f"wire-INTERNAL {call}: {normalize(resp.status.message)}",
                          f"{what}: id {resp.id} ({call}) answered INTERNAL: error={resp.status.error!r} "
                          f"message={resp.status.message[:300]!r}")
        out.append(resp)
    return out


def run_wire(server: Server, inp: Input) -> None:
    stream = wireproto.fill_stream(inp.payload, Vars(server.vars))
    expected, oversized = wireproto.expected_answers(stream)
    pause = float(inp.meta.get("pause-ms", "0")) / 1000.0
    result = wireproto.send(server.wire_port, inp.split(stream), inp.half_close,
                            expected + (1 if oversized else 0), WIRE_DEADLINE, pause=pause)
    calls = request_calls(stream)
    responses = check_wire_responses(result.frames, calls, "wire")
    for resp in responses:  # what the fuzzer may later update, rotate or delete
        if resp.status.code == 0 and calls.get(resp.id) == "create_client" and resp.client.client.client_id:
            server.created_clients.append(resp.client.client.client_id)
        if resp.status.code == 0 and calls.get(resp.id) == "create_scope" and resp.scope.scope.name:
            server.created_scopes.append(resp.scope.scope.name)
        if resp.status.code == 0 and calls.get(resp.id) == "create_user" and resp.user.user.sub:
            server.created_users.append(resp.user.user.sub)
    if result.error and not result.timed_out:
        raise Failure("wire-connect: could not connect", result.error)
    hc = " after half-close" if inp.half_close else ""
    if result.closed_while_writing:
        return  # the server stopped the connection mid-input (an oversized frame): nothing to judge
    if oversized:
        if not any(r.status.code == 8 for r in responses) and not result.timed_out:
            # Closing without the promised RESOURCE_EXHAUSTED answer.
            raise Failure("wire-oversized: no RESOURCE_EXHAUSTED answer to an oversized frame",
                          f"{len(responses)} answers, closed={result.closed}")
        if result.timed_out and not any(r.status.code == 8 for r in responses):
            raise Failure("wire-oversized: no answer and no close after an oversized frame",
                          f"{len(responses)} answers in {WIRE_DEADLINE} s")
        return
    if len(responses) < expected:
        if result.closed:
            raise Failure(f"wire-dropped: the server closed the connection with requests unanswered{hc}",
                          f"{len(responses)} of {expected} complete frames answered before the close")
        raise Failure(f"wire-no-answer: complete frames unanswered within {WIRE_DEADLINE:.0f} s{hc}",
                      f"{len(responses)} of {expected} complete frames answered")


# ---------------------------------------------------------------------------- HTTP


def http_error_text(resp: httpraw.HTTPResponse) -> str:
    try:
        doc = json.loads(resp.body)
        if isinstance(doc, dict):
            return str(doc.get("error_description") or doc.get("error") or "")
    except ValueError:
        pass
    return resp.body[:120].decode("utf-8", "replace")


def check_http_responses(responses: list, requests: list, what: str, well_formed: int) -> None:
    """`well_formed`: how many of the first requests are complete and well-formed; the kind of a
    failure names their path, and calls any later one a malformed request, whatever its path."""
    for i, resp in enumerate(responses):
        trace(f"http answer {i + 1}: {resp.short()[:200]}")
        if resp.status >= 500 and resp.status not in OK_5XX:
            req = requests[i] if i < len(requests) else "?"
            where = req if i < well_formed else "to a malformed request"
            raise Failure(f"http-{resp.status} {where}: {normalize(http_error_text(resp))}",
                          f"{what}: response {i + 1} ({req}) was {resp.short()}")


def run_http(server: Server, inp: Input) -> None:
    data = fill_http(inp.payload, Vars(server.vars))
    expected = int(inp.meta.get("expect", "0"))
    requests = [r.strip() for r in inp.meta.get("requests", "").split(",") if r.strip()]
    methods = [r.split(" ", 1)[0].encode() for r in requests]
    pause = float(inp.meta.get("pause-ms", "0")) / 1000.0
    result = httpraw.send(server.http_port, inp.split(data), methods, max(expected, 1),
                          HTTP_DEADLINE if expected else HTTP_LINGER, half_close=inp.half_close, pause=pause)
    if result.error and not result.timed_out:
        raise Failure("http-connect: could not connect", result.error)
    check_http_responses(result.responses, requests, "http", expected)
    if result.garbage and not result.responses and result.garbage.startswith(b"HTTP/"):
        pass  # a response cut by a close: judged by the status line when there is one
    if len(result.responses) < expected:
        hc = " after half-close" if inp.half_close else ""
        last = result.responses[-1] if result.responses else None
        if result.closed and last is not None and (
                last.status >= 400 or b"close" in (last.header(b"connection") or b"").lower()):
            return  # a server may close after an error, or after saying `Connection: close`
        if result.closed:
            raise Failure(f"http-dropped: the server closed with requests unanswered{hc}",
                          f"{len(result.responses)} of {expected} complete requests answered")
        raise Failure(f"http-no-answer: complete requests unanswered within {HTTP_DEADLINE:.0f} s{hc}",
                      f"{len(result.responses)} of {expected} complete requests answered")


# ---------------------------------------------------------------------------- assertions

_NOW = re.compile(r"^\$\{NOW([+-]\d+)?\}$")
_REPEAT = re.compile(r"\$\{REPEAT:(.):(\d+)\}")


def fill_claims(value, vars_: Vars, now: int):
    """Placeholders in an assertion document's header and claims (see corpus.py)."""
    if isinstance(value, dict):
        return {k: fill_claims(v, vars_, now) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_claims(v, vars_, now) for v in value]
    if isinstance(value, str):
        if m := _NOW.match(value):
            return now + int(m.group(1) or 0)
        value = value.replace("${UNIQUE}", "fuzz-" + secrets.token_hex(12))
        value = _REPEAT.sub(lambda m: m.group(1) * min(int(m.group(2)), 1 << 20), value)
        return vars_.fill_text(value)
    return value


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_es256(key: ec.EllipticCurvePrivateKey, signing_input: bytes) -> str:
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def build_assertion(server: Server, doc: dict) -> str:
    vars_ = Vars(server.vars)
    now = int(time.time())
    header = fill_claims(doc.get("header", {"alg": "ES256", "typ": "JWT", "kid": "${PK_KID}"}), vars_, now)
    if "payload_text" in doc:
        text = fill_claims(doc["payload_text"], vars_, now)
        payload = text.encode("utf-8", "surrogatepass")
    else:
        claims = fill_claims(doc.get("claims", {}), vars_, now)
        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + b64url(payload)).encode()
    signature = sign_es256(server.pk_private_key, signing_input)
    if doc.get("signature") == "corrupt":
        signature = signature[::-1]
    return signing_input.decode() + "." + signature


def run_assertion(server: Server, inp: Input) -> None:
    doc = inp.assertion()
    assertion = build_assertion(server, doc)
    door = doc.get("door", "http")
    endpoint = doc.get("endpoint", "token")
    with_client_id = doc.get("client_id", True)
    pk_id = server.vars["PK_CLIENT_ID"]
    if door == "wire":
        pb = wireproto.pb()
        req = pb.Request(id=7)
        if endpoint == "token":
            call = req.token
            call.grant_type = "client_credentials"
        elif endpoint == "introspect":
            call = req.introspect
            call.token = server.vars["ACCESS_TOKEN"]
        else:
            call = req.revoke
            call.token = "not-a-token"
        if with_client_id:
            call.client_id = pk_id
        call.client_assertion_type = JWT_BEARER
        call.client_assertion = assertion
        data = wireproto.frame(req.SerializeToString())
        result = wireproto.send(server.wire_port, [data], False, 1, WIRE_DEADLINE)
        check_wire_responses(result.frames, {7: endpoint}, f"assertion over the wire ({endpoint})")
        if not result.frames:
            raise Failure(f"wire-no-answer: assertion ({endpoint}) unanswered",
                          f"closed={result.closed} timed_out={result.timed_out}")
        return
    form = {"client_assertion_type": JWT_BEARER, "client_assertion": assertion}
    if with_client_id:
        form["client_id"] = pk_id
    if endpoint == "token":
        form["grant_type"] = "client_credentials"
        path = "/oauth/token"
    elif endpoint == "introspect":
        form["token"] = server.vars["ACCESS_TOKEN"]
        path = "/oauth/introspect"
    else:
        form["token"] = "not-a-token"
        path = "/oauth/revoke"
    body = urllib.parse.urlencode(form).encode()
    data = (f"POST {path} HTTP/1.1\r\nHost: {server.vars['HOST']}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    result = httpraw.send(server.http_port, [data], [b"POST"], 1, HTTP_DEADLINE)
    check_http_responses(result.responses, [f"POST {path} (assertion)"], "assertion over HTTP", 1)
    if not result.responses:
        raise Failure(f"http-no-answer: assertion ({endpoint}) unanswered",
                      f"closed={result.closed} timed_out={result.timed_out}")


# ---------------------------------------------------------------------------- client files

CLI_TIMEOUT = 30.0


def run_client_file(server: Server, inp: Input) -> None:
    assert server.workdir is not None
    fd, path = tempfile.mkstemp(prefix="client-", suffix=".json", dir=server.workdir)
    with os.fdopen(fd, "wb") as f:
        f.write(inp.payload)
    try:
        result = server.cli("clients", "create", "--file", path, "--json", timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Failure("cli-hang: clients create --file did not finish", f"no exit within {CLI_TIMEOUT:.0f} s")
    finally:
        os.unlink(path)
    rc = result.returncode
    stderr = result.stderr.decode("utf-8", "replace")
    trace(f"cli exit {rc}: {stderr.strip()[:300]}")
    if rc < 0:
        fatal = re.search(r"Fatal error: (.*)", stderr)
        message = normalize(fatal.group(1), 90) if fatal else "no message"
        raise Failure(f"cli-crash {signal_name(rc)}: {message}",
                      f"`authsec clients create --file` was killed by {signal_name(rc)}\n"
                      + "\n".join("  cli stderr| " + line[:300] for line in stderr.splitlines()[-8:]))
    if rc not in (0, 1, 64):
        raise Failure(f"cli-exit-{rc}: clients create --file",
                      "exit status other than 0, 1 or 64\n"
                      + "\n".join("  cli stderr| " + line[:300] for line in stderr.splitlines()[-8:]))
    if m := re.search(r"error: INTERNAL\S*[^:]*: (.*)", stderr):
        raise Failure(f"wire-INTERNAL create_client: {normalize(m.group(1))}",
                      "the server answered `clients create --file` with INTERNAL: " + stderr[-400:])
    if rc == 0:
        try:
            client_id = json.loads(result.stdout).get("client_id")
            if client_id:
                server.created_clients.append(client_id)
        except (ValueError, AttributeError):
            pass
