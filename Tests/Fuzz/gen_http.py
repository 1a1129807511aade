"""HTTP inputs: form requests to the OAuth endpoints and GETs of the other paths, with random field
values, then mutated (methods, versions, header bytes, folding, huge headers, Content-Length,
chunked encoding, bodies), pipelined, split across writes, or followed by a half-close."""

from __future__ import annotations

import base64
import random
import re
import urllib.parse
from dataclasses import dataclass, field

from corpus import Input
from harness import CUSTOM_SCOPE, Server
from values import Vars, rand_text, rand_word

FORM_PATHS = ["/oauth/token", "/oauth/introspect", "/oauth/revoke", "/quota/charge", "/oauth/par",
              "/oauth/device/code", "/authorize", "/authorize/sign-in", "/authorize/consent", "/device/approve",
              "/logout", "/userinfo"]
GET_PATHS = ["/.well-known/oauth-authorization-server", "/.well-known/jwks.json", "/healthz",
             "/.well-known/openid-configuration", "/.well-known/", "/.well-known/x", "/", "/oauth", "/oauth/",
             "/authorize", "/userinfo", "/register", "/metrics", "/healthz/", "/HEALTHZ", "/device",
             "/authorize/continue", "/logout"]
# The people flows' parameters: authorization requests, sign-in and consent forms, device codes.
PEOPLE_PARAMETERS = ["response_type", "redirect_uri", "scope", "state", "nonce", "code_challenge",
                     "code_challenge_method", "prompt", "max_age", "login_hint", "request_uri", "request",
                     "response_mode", "resource", "csrf", "flow", "username", "password", "decision", "user_code",
                     "id_token_hint", "post_logout_redirect_uri", "access_token", "failed", "done"]
PEOPLE_VALUES = ["code", "token", "S256", "plain", "none", "login consent", "none login", "-1", "99999999999999999999",
                 "https://myapp.com/callback", "http://127.0.0.1:1/callback", "urn:ietf:params:oauth:request_uri:x",
                 "BCDF-GHJK", "bcdfghjk", "allow", "deny", "a.b.c", "openid profile", "admin:clients", "x" * 43,
                 "x" * 5000]


# Client ID Metadata Document URLs: literal addresses only (no DNS), each refused by the address
# policy (the fuzzed server runs without --allow-insecure-client-metadata), so nothing leaves loopback.
DOCUMENT_CLIENT_IDS = ["http://127.0.0.1:1/client.json", "https://127.0.0.1:1/client.json", "https://[::1]:1/c",
                       "https://10.0.0.1/client.json", "https://169.254.169.254/latest", "https://127.0.0.1/",
                       "https://127.0.0.1:1/a/../b", "https://127.0.0.1:1/" + "x" * 300]


def people_pairs(rng: random.Random, ph) -> list:
    """Random parameters of the authorization endpoint and the pages, the client_id often real."""
    r = rng.random()
    pairs = [("client_id", ph("CLIENT_ID"))] if r < 0.6 else \
        [("client_id", rng.choice(DOCUMENT_CLIENT_IDS))] if r < 0.7 else []
    for _ in range(rng.choice([0, 1, 3, 6, 10])):
        pairs.append((rng.choice(PEOPLE_PARAMETERS), rng.choice(PEOPLE_VALUES + [rand_text(rng)])))
    return pairs


@dataclass
class Req:
    method: str
    target: str
    version: str = "HTTP/1.1"
    headers: list = field(default_factory=list)  # [(bytes name, bytes value)]
    body: bytes = b""
    valid: bool = True  # a complete, well-formed request the server owes an answer
    closes: bool = False  # the server may close after answering it
    notes: list = field(default_factory=list)

    def encode(self, line_end: bytes = b"\r\n") -> bytes:
        out = f"{self.method} {self.target} {self.version}".encode("utf-8", "surrogateescape") + line_end
        for name, value in self.headers:
            out += name + b": " + value + line_end
        return out + line_end + self.body

    def set_header(self, name: bytes, value: bytes | None) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        if value is not None:
            self.headers.append((name, value))

    def label(self) -> str:
        path = self.target.split("?", 1)[0]
        if len(path) > 40:
            path = path[:40] + "..."
        return f"{self.method[:10]} {path}".replace(",", "%2C")


_QUOTED_PLACEHOLDER = re.compile(r"%24%7B([A-Z_]+~*)%7D")


def enc(rng: random.Random, value: str) -> str:
    data = value.encode("utf-8", "surrogatepass")
    r = rng.random()
    if r < 0.85:
        text = urllib.parse.quote_plus(data)
    else:
        text = urllib.parse.quote(data, safe="=&+%")  # leaves '=', '&', '+' and '%' raw
    # Placeholders stay as they are (their values, ids and secrets, need no escaping).
    return _QUOTED_PLACEHOLDER.sub(r"${\1}", text)


def form_body(rng: random.Random, pairs: list) -> bytes:
    return "&".join(f"{enc(rng, k)}={enc(rng, v)}" for k, v in pairs).encode()


def basic(client_id: str, secret: str) -> bytes:
    """HTTP Basic credentials (RFC 6749 §2.3.1 form-encodes both parts first)."""
    raw = urllib.parse.quote_plus(client_id.encode("utf-8", "surrogatepass")) + ":" + \
        urllib.parse.quote_plus(secret.encode("utf-8", "surrogatepass"))
    return b"Basic " + base64.b64encode(raw.encode())


TOKEN_TYPES = ["urn:ietf:params:oauth:token-type:access_token", "urn:ietf:params:oauth:token-type:jwt",
               "urn:ietf:params:oauth:token-type:id_token", "access_token", ""]


def delegation_pairs(rng: random.Random, ph) -> list:
    """A token exchange (RFC 8693) or a jwt-bearer grant (an ID-JAG), with random parts."""
    if rng.random() < 0.6:
        pairs = [("grant_type", rng.choice(["urn:ietf:params:oauth:grant-type:token-exchange", "token_exchange"]))]
        for name in rng.sample(["subject_token", "subject_token_type", "actor_token", "actor_token_type",
                                "requested_token_type"], rng.choice([1, 2, 3, 5])):
            value = rng.choice([ph("ACCESS_TOKEN"), ph("ACCESS_TOKEN")[:-3], "a.b.c", rand_text(rng)]) \
                if name.endswith("token") else rng.choice(TOKEN_TYPES + [rand_text(rng)])
            pairs.append((name, value))
        return pairs
    header = rng.choice(["eyJ0eXAiOiJvYXV0aC1pZC1qYWcrand0IiwiYWxnIjoiRVMyNTYiLCJraWQiOiJrIn0",  # ID-JAG header
                         "eyJhbGciOiJub25lIn0", "e30", rand_word(rng)])
    body = base64.urlsafe_b64encode(rng.choice([
        b'{"iss":"https://127.0.0.1:1","sub":"ada","aud":"x","client_id":"c","jti":"j","exp":9999999999}',
        b'{"iss":1}', b"[]", b"not json", rand_text(rng).encode("utf-8", "surrogatepass")])).rstrip(b"=").decode()
    return [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", rng.choice([f"{header}.{body}.c2ln", f"{header}.{body}", "", rand_text(rng)]))]


REGISTRATION_VALUES = [["http://127.0.0.1:5/cb"], ["https://app.example/cb"], ["http://app.example/cb"], "x", 1, None,
                       True, [], [1, 2], {"a": 1}, "none", "client_secret_basic", "private_key_jwt", "native", "web",
                       ["authorization_code", "refresh_token"], ["client_credentials"], ["code"], ["token"],
                       "openid ai:access", "x" * 3000, "com.example.app:/cb"]
REGISTRATION_FIELDS = ["redirect_uris", "client_name", "token_endpoint_auth_method", "grant_types", "response_types",
                       "scope", "application_type", "software_id", "logo_uri", "client_uri", "jwks_uri", "jwks",
                       "post_logout_redirect_uris", "client_id", "contacts", "id_token_signed_response_alg"]


def registration_request(rng: random.Random, ph) -> Req:
    """RFC 7591 registration (JSON), or RFC 7592 reading, replacing or deleting one."""
    import json
    body_object = {rng.choice(REGISTRATION_FIELDS): rng.choice(REGISTRATION_VALUES + [rand_text(rng)])
                   for _ in range(rng.choice([0, 1, 3, 6, 12]))}
    if rng.random() < 0.6:
        body_object.setdefault("redirect_uris", ["http://127.0.0.1:5/cb"])
    try:
        body = json.dumps(body_object).encode()
    except ValueError:
        body = b"{}"
    if rng.random() < 0.1:
        body = rng.choice([b"[]", b"{", b"null", b'{"redirect_uris":' * 50, rand_text(rng).encode("utf-8", "surrogatepass")])
    method = rng.choice(["POST", "POST", "POST", "GET", "PUT", "DELETE"])
    target = "/register" if method == "POST" else "/register/" + rng.choice(
        [ph("CLIENT_ID"), rand_word(rng), "x" * 300, "%2e%2e"])
    headers = [(b"Host", ph("HOST").encode()), (b"Content-Type", rng.choice(
        [b"application/json", b"application/json", b"application/json; charset=utf-8", b"text/plain"]))]
    if rng.random() < 0.5:
        headers.append((b"Authorization", rng.choice([b"Bearer " + rand_word(rng).encode(), b"Bearer ",
                                                      b"Bearer " + ph("ACCESS_TOKEN").encode()])))
    if method in ("POST", "PUT"):
        headers.append((b"Content-Length", str(len(body)).encode()))
    else:
        body = b""
    return Req(method, target, headers=headers, body=body)


def base_request(rng: random.Random, v: Vars) -> Req:
    ph = v.ph
    r = rng.random()
    if r < 0.06:
        return registration_request(rng, ph)
    if r < 0.7:
        path = rng.choice(FORM_PATHS)
        pairs = []
        headers = [(b"Host", ph("HOST").encode()), (b"Content-Type", b"application/x-www-form-urlencoded")]
        auth = rng.random()
        if auth < 0.45:
            headers.append((b"Authorization", ph("BASIC").encode()))
        elif auth < 0.55:
            headers.append((b"Authorization", rng.choice(
                [b"Basic ", b"Basic !!!", b"Bearer " + ph("ACCESS_TOKEN").encode(), b"Basic " + b"QUFB" * 3000,
                 basic(rand_text(rng), rand_text(rng)), basic("", "secret"),
                 rand_text(rng).encode("utf-8", "surrogatepass").replace(b"\r", b"").replace(b"\n", b"")])))
        else:
            pairs.append(("client_id", rng.choice([ph("CLIENT_ID"), ph("CLIENT_ID"), rand_text(rng, [ph("PK_CLIENT_ID")])])))
            pairs.append(("client_secret", rng.choice([ph("CLIENT_SECRET"), ph("CLIENT_SECRET"), rand_text(rng)])))
        if path not in ("/oauth/token", "/oauth/introspect", "/oauth/revoke", "/quota/charge"):
            pairs += people_pairs(rng, ph)
        elif path == "/oauth/token":
            grant = rng.random()
            if grant < 0.6:
                pairs.append(("grant_type", "client_credentials"))
            elif grant < 0.7:
                pairs += delegation_pairs(rng, ph)
            elif grant < 0.85:
                pairs.append(("grant_type", rng.choice([
                    "authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code",
                    "device_code"])))
                for name in rng.sample(["code", "redirect_uri", "code_verifier", "refresh_token", "device_code"],
                                       rng.choice([0, 1, 2, 3])):
                    pairs.append((name, rng.choice(["x" * 43, "", "a.b.c", "https://myapp.com/callback",
                                                    rand_text(rng)])))
            else:
                pairs.append(("grant_type", rand_text(rng)))
            if rng.random() < 0.6:
                pairs.append(("scope", rng.choice([CUSTOM_SCOPE, "openid", f"{CUSTOM_SCOPE} openid", "",
                                                   "admin:clients", rand_text(rng)])))
            for _ in range(rng.choice([0, 0, 1, 2, 5])):
                pairs.append((rng.choice(["audience", "resource"]),
                              rng.choice(["https://api.fuzz.example", rand_text(rng)])))
        else:
            pairs.append(("token", rng.choice([ph("ACCESS_TOKEN"), ph("ACCESS_TOKEN")[:-5], rand_text(rng), "a.b.c"])))
            if path == "/quota/charge":
                pairs.append(("amount", rng.choice(["1", "100", "0", "-1", "1000000001", "1e3", "",
                                                    "99999999999999999999", rand_text(rng)])))
            elif rng.random() < 0.3:
                pairs.append(("token_type_hint", rng.choice(["access_token", "refresh_token", rand_text(rng)])))
        if rng.random() < 0.1:
            pairs.append((rand_text(rng), rand_text(rng)))
        rng.shuffle(pairs)
        body = form_body(rng, pairs)
        headers.append((b"Content-Length", str(len(body)).encode()))
        rng.shuffle(headers)
        return Req("POST", path, headers=headers, body=body, closes=len(body) > 64 * 1024)
    if r < 0.9:
        path = rng.choice(GET_PATHS)
        if path in ("/authorize", "/device", "/authorize/continue", "/logout") and rng.random() < 0.8:
            path += "?" + form_body(rng, people_pairs(rng, ph)).decode()
    else:
        path = rng.choice([
            "/" + rand_word(rng), "/oauth/" + rand_word(rng), "/" + "a" * rng.choice([600, 5000]),
            "/oauth/token?" + rand_word(rng), "/.well-known/jwks.json?x=%zz", "/%2e%2e/%2e%2e/etc/passwd",
            "//oauth//token", "/oauth/%74oken", "/healthz#frag", "/\u00e9\u00e8", "/a/" * 300,
        ])
    req = Req(rng.choice(["GET", "GET", "GET", "HEAD"]), path, headers=[(b"Host", ph("HOST").encode())])
    if any(not 0x21 <= ord(c) < 0x7F or c == "#" for c in path):
        req.valid, req.closes = False, True  # raw non-ASCII or a fragment: a malformed request-target
    return req


HEADER_JUNK = [b"\x00", b"\x01", b"\x7f", b"\xff", b"\xc3\xa9", b"\r", b" ", b"\t", b"(", b"\"", b"@", b"\x1b"]


def mutate(rng: random.Random, req: Req) -> None:
    """Applies one mutation to `req`, noting it and whether the request stays well-formed."""
    m = rng.choice(["method", "method", "target", "version", "version", "header-char", "header-char",
                    "folding", "huge-header", "many-headers", "content-length", "content-length",
                    "content-length", "chunked", "chunked", "chunked", "bad-chunk", "bad-chunk", "bad-chunk",
                    "expect", "connection", "body-escapes", "body-repeat", "body-non-utf8", "body-many",
                    "body-large", "content-type", "bare-lf", "no-host", "te-and-cl"])
    req.notes.append(m)
    invalid = True
    if m == "method":
        req.method = rng.choice(["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "get",
                                 "P0ST", "POST ", "X" * 1000, "", "PRI", "M-SEARCH"])
        invalid = req.method not in ("GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
    elif m == "target":
        req.target = rng.choice(["*", "http://127.0.0.1" + req.target, req.target + "?" + "a=b&" * 500,
                                 req.target + "/", req.target.upper(), "/" + "x" * 20000, req.target + "%zz",
                                 req.target + "\x00", req.target + " HTTP/1.1 ", "", "oauth/token",
                                 req.target + "?%", req.target + "#x"])
    elif m == "version":
        req.version = rng.choice(["HTTP/1.0", "HTTP/1.0", "HTTP/0.9", "HTTP/2.0", "HTTP/1.2", "HTTP/1.1 x",
                                  "http/1.1", "HTTP/1", "HTTP/9.9", "HTTP/1.01", ""])
        if req.version == "HTTP/1.0":
            invalid = False
            req.closes = True
    elif m == "header-char":
        junk = rng.choice(HEADER_JUNK)
        if rng.random() < 0.5:
            req.headers.insert(rng.randrange(len(req.headers) + 1), (b"X-F" + junk + b"zz", b"v"))
        else:
            req.headers.insert(rng.randrange(len(req.headers) + 1), (b"X-Fuzz", b"a" + junk + b"b"))
    elif m == "folding":
        req.headers.insert(rng.randrange(len(req.headers) + 1),
                           (b"X-Folded", b"first\r\n " + rng.choice([b"second", b"", b"\t x"])))
    elif m == "huge-header":
        n = rng.choice([8 * 1024, 17 * 1024, 70 * 1024, 200 * 1024])
        req.headers.append((b"X-Huge", b"h" * n))
        invalid = n > 8 * 1024  # a server may refuse a big head, with a 431 or a close
        req.closes = True
    elif m == "many-headers":
        req.headers += [(f"X-H{i}".encode(), b"v") for i in range(rng.choice([100, 1000, 5000]))]
        req.closes = True
    elif m == "content-length":
        n = len(req.body)
        choice = rng.choice(["missing", "dup-same", "dup-diff", "-1", "abc", "1e3", "+5", "huge", "small", "large",
                             "space", "hex", "empty", "list"])
        value = {"-1": b"-1", "abc": b"abc", "1e3": b"1e3", "+5": b"+" + str(n).encode(),
                 "huge": b"99999999999999999999999", "small": str(max(0, n - 3)).encode(),
                 "large": str(n + 5).encode(), "space": b" " + str(n).encode() + b" ",
                 "hex": hex(n).encode(), "empty": b"", "list": f"{n}, {n}".encode()}.get(choice)
        if choice == "missing":
            req.set_header(b"Content-Length", None)
        elif choice == "dup-same":
            req.headers.append((b"Content-Length", str(n).encode()))
        elif choice == "dup-diff":
            req.headers.append((b"Content-Length", str(n + 1).encode()))
        else:
            req.set_header(b"Content-Length", value)
            invalid = choice != "space"
        if choice == "missing" and req.method in ("GET", "HEAD"):
            invalid = False
        req.notes[-1] += ":" + choice
        req.closes = True
    elif m in ("chunked", "bad-chunk"):
        body = req.body
        req.set_header(b"Content-Length", None)
        req.set_header(b"Transfer-Encoding", b"chunked")
        pieces = []
        pos = 0
        while pos < len(body):
            n = rng.randint(1, max(1, len(body) // 2 + 1))
            pieces.append(body[pos:pos + n])
            pos += n
        chunks = b"".join(f"{len(p):x}".encode() + b"\r\n" + p + b"\r\n" for p in pieces)
        if m == "chunked":
            req.body = chunks + b"0\r\n\r\n"
            invalid = False
        else:
            bad = rng.choice(["size-nonhex", "size-negative", "size-huge", "size-mismatch", "no-crlf",
                              "no-last", "extension", "trailer", "size-space", "size-empty", "trailer-bad-char",
                              "trailer-bad-char", "extension-bad-char"])
            req.notes[-1] += ":" + bad
            if bad == "size-nonhex":
                req.body = b"zz\r\n" + body + b"\r\n0\r\n\r\n"
            elif bad == "size-negative":
                req.body = b"-5\r\nabcde\r\n0\r\n\r\n"
            elif bad == "size-huge":
                req.body = rng.choice([b"FFFFFFFFFFFFFFFFFF", b"7fffffffffffffff", b"ffffffff"]) + b"\r\nab\r\n0\r\n\r\n"
            elif bad == "size-mismatch":
                req.body = f"{len(body) + 7:x}".encode() + b"\r\n" + body + b"\r\n0\r\n\r\n"
            elif bad == "no-crlf":
                req.body = f"{len(body):x}".encode() + b"\r\n" + body + b"0\r\n\r\n"
            elif bad == "no-last":
                req.body = chunks
                req.closes = True
            elif bad == "extension":
                req.body = chunks.replace(b"\r\n", b";name=val\r\n", 1) + b"0\r\n\r\n"
                invalid = False
            elif bad == "trailer":
                req.body = chunks + b"0\r\nX-Trailer: t\r\n\r\n"
                invalid = False
            elif bad == "trailer-bad-char":
                junk = rng.choice(HEADER_JUNK)
                trailer = rng.choice([b"X-T" + junk + b"t: v", b"X-T: a" + junk + b"b", b"X T: v", b"no-colon"])
                req.body = chunks + b"0\r\n" + trailer + b"\r\n\r\n"
            elif bad == "extension-bad-char":
                req.body = chunks.replace(b"\r\n", b";a=" + rng.choice(HEADER_JUNK) + b"\r\n", 1) + b"0\r\n\r\n"
            elif bad == "size-space":
                req.body = b" " + chunks + b"0\r\n\r\n"
            else:
                req.body = b"\r\n" + body + b"\r\n0\r\n\r\n"
        req.closes = req.closes or invalid
    elif m == "expect":
        req.headers.append((b"Expect", rng.choice([b"100-continue", b"100-continue", b"200-ok", b""])))
        invalid = req.headers[-1][1] != b"100-continue"
    elif m == "connection":
        value = rng.choice([b"close", b"keep-alive", b"upgrade", b"garbage", b"close, keep-alive"])
        req.headers.append((b"Connection", value))
        invalid = value not in (b"close", b"keep-alive")
        req.closes = value != b"keep-alive"
    elif m == "body-escapes":
        req.body += rng.choice([b"&x=%", b"&x=%G1", b"&x=%zz", b"&%=1", b"&x=%e9", b"&x=%c3%28", b"&x=%00",
                                b"&scope=%"])
        invalid = False
        req.set_header(b"Content-Length", str(len(req.body)).encode())
    elif m == "body-repeat":
        key = rng.choice([b"client_id", b"grant_type", b"scope", b"token", b"client_secret", b"audience"])
        req.body += b"&" + key + b"=dup" + (b"&" + key + b"=dup2") * rng.choice([1, 1, 50])
        invalid = False
        req.set_header(b"Content-Length", str(len(req.body)).encode())
    elif m == "body-non-utf8":
        req.body += rng.choice([b"&x=\xff\xfe", b"&x=\xc3", b"&\x80=1", b"&x=\xed\xa0\x80"])
        invalid = False
        req.set_header(b"Content-Length", str(len(req.body)).encode())
    elif m == "body-many":
        req.body += b"".join(b"&p%d=%d" % (i, i) for i in range(rng.choice([99, 101, 1000])))
        invalid = False
        req.set_header(b"Content-Length", str(len(req.body)).encode())
    elif m == "body-large":
        req.body += b"&pad=" + b"p" * rng.choice([60 * 1024, 65 * 1024, 300 * 1024])
        invalid = False
        req.closes = True
        req.set_header(b"Content-Length", str(len(req.body)).encode())
    elif m == "content-type":
        req.set_header(b"Content-Type", rng.choice([
            None, b"application/json", b"multipart/form-data; boundary=x", b"APPLICATION/X-WWW-FORM-URLENCODED",
            b"application/x-www-form-urlencoded; charset=utf-8", b"application/x-www-form-urlencoded; charset=latin1",
            b"application/x-www-form-urlencodedX", b"", b"text/plain"]))
        invalid = False
    elif m == "bare-lf":
        req.notes[-1] = "bare-lf"
    elif m == "no-host":
        req.set_header(b"Host", None)
        invalid = False  # an HTTP/1.1 request without Host may be refused with 400, but it is answered
    elif m == "te-and-cl":
        req.set_header(b"Transfer-Encoding", rng.choice([b"chunked", b"gzip, chunked", b"identity", b"chunked, gzip",
                                                         b"CHUNKED", b"x"]))
        req.closes = True
    if invalid:
        req.valid = False
        req.closes = True


TOKEN_CHARS = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def chunked_length(body: bytes) -> int | None:
    """The length of a well-formed chunked body at the start of `body`, or None."""
    pos = 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            return None
        size_text = body[pos:end].split(b";", 1)[0]
        if not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text) or len(size_text) > 8:
            return None
        size = int(size_text, 16)
        pos = end + 2
        if size == 0:
            while True:  # trailer fields, then an empty line
                end = body.find(b"\r\n", pos)
                if end < 0:
                    return None
                if end == pos:
                    return end + 2
                pos = end + 2
        if body[pos + size:pos + size + 2] != b"\r\n":
            return None
        pos += size + 2


def well_formed(req: Req) -> bool:
    """RFC 9110/9112 syntax of the whole request, framing included: a request any server must
    answer. (Whether its mutations make it one the server may refuse by size is noted apart.)"""
    if not req.method or any(ord(c) not in TOKEN_CHARS for c in req.method):
        return False
    if req.version not in ("HTTP/1.1", "HTTP/1.0"):
        return False
    if not req.target or not all(0x21 <= ord(c) < 0x7F and c != "#" for c in req.target):
        return False
    lengths, encodings = [], []
    for name, value in req.headers:
        if not name or any(b not in TOKEN_CHARS for b in name):
            return False
        if any((b < 0x20 and b != 0x09) or b == 0x7F for b in value):
            return False
        if name.lower() == b"content-length":
            lengths.append(value.strip())
        elif name.lower() == b"transfer-encoding":
            encodings.append(value.strip().lower())
        elif name.lower() == b"expect" and value.strip().lower() != b"100-continue":
            return False
    if encodings:
        return not lengths and encodings == [b"chunked"] and chunked_length(req.body) == len(req.body)
    if lengths:
        return len(lengths) == 1 and lengths[0].isdigit() and int(lengths[0]) == len(req.body)
    return not req.body


def generate(rng: random.Random, server: Server, mutated: bool) -> Input:
    v = Vars(server.vars)
    n = rng.choice([1, 1, 1, 1, 2, 3, 5])
    reqs = [base_request(rng, v) for _ in range(n)]
    if mutated:
        targets = rng.sample(range(n), rng.randint(1, n))
        for i in targets:
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                mutate(rng, reqs[i])
    for req in reqs:
        if not well_formed(req):
            req.valid, req.closes = False, True
    encoded = [req.encode(b"\n" if "bare-lf" in req.notes else b"\r\n") for req in reqs]
    data = b"".join(encoded)
    # Answers owed: the well-formed requests up to the first malformed one, or the first one after
    # which the server may close (HTTP/1.0, Connection: close, an oversized body, ...).
    expect = 0
    for req in reqs:
        if not req.valid or "bare-lf" in req.notes:
            break
        expect += 1
        if req.closes:
            break
    meta = {}
    notes = [f"{i + 1}:{'+'.join(r.notes)}" for i, r in enumerate(reqs) if r.notes]
    delivery = rng.random()
    if delivery < 0.2 and len(data) < 100_000:
        sizes, total = [], 0
        while total < len(data) and len(sizes) < 300:
            s = rng.choice([1, 1, 2, 3, 5, 8, 16, 100])
            sizes.append(s)
            total += s
        meta["chunks"] = " ".join(map(str, sizes))
        notes.append("split")
    if rng.random() < 0.2:
        meta["half-close"] = "yes"
        notes.append("half-close")
    meta = {"description": f"{'mutated' if mutated else 'valid'} HTTP requests"
                           + (f" [{' '.join(notes)}]" if notes else ""),
            "expect": str(expect), "requests": ", ".join(r.label() for r in reqs), **meta}
    parts = [(e, r.label(), r.valid and "bare-lf" not in r.notes) for e, r in zip(encoded, reqs)]
    return Input("http", data, meta, parts=parts)
