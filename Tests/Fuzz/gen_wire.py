"""Wire inputs: valid `Request`s of every call with random field values, then mutated frames
(bit flips, truncation, duplicated and garbage fields, wrong and oversized length prefixes)
delivered whole, split across many writes, pipelined, or followed by a half-close."""

from __future__ import annotations

import base64
import json
import random
import struct

import wireproto
from corpus import Input
from harness import CUSTOM_SCOPE, OTHER_SCOPE, Server
from values import Vars, rand_int64, rand_text, rand_uint32, rand_url, rand_word

CALLS = ["token", "introspect", "revoke", "server_info", "charge", "create_client", "get_client", "list_clients",
         "update_client", "delete_client", "rotate_client_secret", "create_scope", "list_scopes", "delete_scope",
         "list_keys", "rotate_key", "get_quota", "list_audit", "client_history", "get_usage", "create_user",
         "get_user", "list_users", "update_user", "delete_user", "set_user_password", "set_user_disabled",
         "list_consents", "revoke_consent", "create_registration_token", "list_registration_tokens",
         "revoke_registration_token", "add_trusted_issuer", "list_trusted_issuers", "remove_trusted_issuer"]
MANAGEMENT = set(CALLS[5:])
# Valid and nearly valid passwords: 8 characters, 72 bytes (24 three-byte characters), one past
# it, a NUL inside, too short. Only the valid ones cost a bcrypt hash on the server.
PASSWORDS = ["correct horse", "12345678", "\u20ac" * 24, "\u20ac" * 24 + "x", "pass\0word", "short", ""]
USERNAMES = ["fuzz-user", "FUZZ-USER", "alice", "Bob.Smith", "a", "u_looks_like_sub", ".dot", "x" * 64, "x" * 65,
             "has space", "\u00e9mile", "a@b.example", "plus+tag"]
APP_TYPES = ["ai_agent", "mcp_server", "web", "mobile", "ai-agent", "mcp-server"]
GRANTS = ["client_credentials", "authorization_code", "refresh_token", "device_code",
          "urn:ietf:params:oauth:grant-type:device_code", "implicit", "password", "token_exchange",
          "urn:ietf:params:oauth:grant-type:token-exchange", "jwt_bearer", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
# Literal addresses only: the fuzzed server refuses them all (no DNS, nothing leaves loopback).
ISSUER_URLS = ["https://127.0.0.1:1", "https://127.0.0.1:1/jwks", "http://10.0.0.1/jwks", "https://[::1]:1/k",
               "ftp://127.0.0.1/x", "https://169.254.169.254/latest", ""]
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
SCOPES = [CUSTOM_SCOPE, OTHER_SCOPE, "openid", "profile", "email", "offline_access", "admin:clients",
          "authsec:introspect"]
CLIENT_FIELDS = ["name", "description", "app_type", "logo", "website", "grant_types",
                 "token_endpoint_auth_method", "callbacks", "web_origins", "logout_urls", "allowed_scopes",
                 "allowed_audiences", "access_token_lifetime", "refresh_token_lifetime", "id_token_lifetime",
                 "rotate_refresh_token", "require_proof_key_for_code_exchange", "jwks", "jwks_uri",
                 "require_pushed_authorization_requests", "agent_config", "mcp_config", "client_id",
                 "created_at", "updated_at", "is_confidential"]


def rand_list(rng: random.Random, item, big: bool = True) -> list:
    r = rng.random()
    if big and r < 0.05:
        # Many short entries (long entries come from rand_text on their own).
        return [rand_word(rng) for _ in range(rng.choice([200, 2000]))]
    return [item() for _ in range(rng.randint(0, 3))]


def rand_jwks(rng: random.Random) -> str:
    key = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
           "y": "x_FEzRu9m36HLN_tie6WO5xjTdvE5aCV-o5tY7Oq-3M", "kid": "k1"}
    return rng.choice([
        json.dumps({"keys": [key]}), "{}", '{"keys":[]}', '{"keys":{}}', "garbage", "", "null", "[" * 5000,
        '{"keys":[' + ",".join(['{"kty":"EC"}'] * 2000) + "]}", json.dumps({"keys": [dict(key, crv="P-999")]}),
        json.dumps({"keys": [dict(key, x="")]}), json.dumps({"keys": [{"kty": "RSA", "n": "AQAB" * 500, "e": "AQAB"}]}),
        '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}', rand_text(rng),
    ])


def rand_client(rng: random.Random, pb, created: bool = True):
    c = pb.Client()
    texts = lambda: rand_text(rng)  # noqa: E731
    if created or rng.random() < 0.5:
        c.name = rand_text(rng) if rng.random() < 0.6 else "fuzz " + rand_word(rng)
    for name in CLIENT_FIELDS:
        if rng.random() > 0.35:
            continue
        if name in ("name", "description", "client_id"):
            setattr(c, name, texts())
        elif name == "app_type":
            c.app_type = rng.choice(APP_TYPES + [texts()])
        elif name in ("logo", "website", "jwks_uri"):
            setattr(c, name, rand_url(rng))
        elif name == "grant_types":
            c.grant_types.extend(rand_list(rng, lambda: rng.choice(GRANTS + [texts()])))
        elif name == "token_endpoint_auth_method":
            c.token_endpoint_auth_method = rng.choice(AUTH_METHODS + [texts()])
        elif name in ("callbacks", "web_origins", "logout_urls"):
            getattr(c, name).extend(rand_list(rng, lambda: rand_url(rng)))
        elif name == "allowed_scopes":
            c.allowed_scopes.extend(rand_list(rng, lambda: rng.choice(SCOPES + [texts()])))
        elif name == "allowed_audiences":
            c.allowed_audiences.extend(rand_list(rng, lambda: rng.choice([rand_url(rng), texts()])))
        elif name.endswith("lifetime") or name in ("created_at", "updated_at"):
            setattr(c, name, rand_int64(rng))
        elif name in ("rotate_refresh_token", "require_proof_key_for_code_exchange",
                      "require_pushed_authorization_requests", "is_confidential"):
            setattr(c, name, rng.random() < 0.5)
        elif name == "jwks":
            c.jwks = rand_jwks(rng)
        elif name == "agent_config":
            a = c.agent_config
            a.agent_type = rng.choice(["conversational", "task", "analytical", texts()])
            a.capabilities.extend(rand_list(rng, texts))
            a.context_retention = rng.choice(["24h", "7d", "0", "-1h", "99999999999999999999d", "1x", "", texts()])
            a.max_context_size = rand_int64(rng)
            a.rate_limits.requests_per_minute = rand_int64(rng)
            a.rate_limits.tokens_per_day = rand_int64(rng)
        elif name == "mcp_config":
            m = c.mcp_config
            m.protocol_version = rng.choice(["2024-11-05", "2025-03-26", "", texts()])
            m.supported_features.extend(rand_list(rng, lambda: rng.choice(
                ["tools", "resources", "prompts", "sampling", "logging", "roots", texts()])))
            for _ in range(rng.choice([0, 1, 2, 3, 300])):
                m.endpoints[rng.choice(["tools", "resources", texts()])] = rand_url(rng)
            m.security.require_auth = rng.random() < 0.5
            m.security.allowed_origins.extend(rand_list(rng, lambda: rand_url(rng)))
    return c


def basic(client_id: str, secret: str) -> str:
    raw = f"{client_id}:{secret}".encode("utf-8", "surrogatepass")
    return "Basic " + base64.b64encode(raw).decode()


def build_request(rng: random.Random, v: Vars, server: Server, call: str, rid: int):
    pb = wireproto.pb()
    req = pb.Request(id=rid)
    ph = v.ph
    if call in MANAGEMENT:
        r = rng.random()
        req.authorization = ph("ADMIN_BEARER") if r < 0.85 else rng.choice(
            ["", "Bearer ", "Bearer " + ph("ACCESS_TOKEN"), ph("BASIC"), "Bearer x.y.z", rand_text(rng)])
    elif call == "charge":
        # The gateway's own Bearer: the admin's (it may see any token), the client's own, or junk.
        req.authorization = rng.choice(["Bearer " + ph("ACCESS_TOKEN"), ph("ADMIN_BEARER"), ph("ADMIN_BEARER"),
                                        "", "Bearer ", ph("BASIC"), rand_text(rng)])
    elif call in ("token", "introspect", "revoke"):
        r = rng.random()
        if r < 0.5:
            req.authorization = ph("BASIC") if rng.random() < 0.8 else ph("ADMIN_BASIC")
        elif r < 0.7:
            req.authorization = rng.choice(["Basic ", "Basic !!!!", "Basic " + "QQ==" * 300, rand_text(rng),
                                            basic(rand_text(rng), rand_text(rng)), basic("", "secret")])
    known_ids = [ph("CLIENT_ID"), ph("ADMIN_ID"), ph("PK_CLIENT_ID")]
    mine = list(server.created_clients[-20:])
    if call == "token":
        t = req.token
        t.grant_type = "client_credentials" if rng.random() < 0.8 else rng.choice(GRANTS + [rand_text(rng)])
        if rng.random() < 0.7:
            t.scope = rng.choice([CUSTOM_SCOPE, "openid", f"{CUSTOM_SCOPE} openid", "", "admin:clients",
                                  f"{CUSTOM_SCOPE} {CUSTOM_SCOPE}", rand_text(rng)])
        t.audience.extend(rand_list(rng, lambda: rng.choice(["https://api.fuzz.example", rand_text(rng)])))
        if not req.authorization or rng.random() < 0.3:
            t.client_id = rng.choice([ph("CLIENT_ID"), ph("CLIENT_ID"), rand_text(rng, known_ids)])
            t.client_secret = rng.choice([ph("CLIENT_SECRET"), ph("CLIENT_SECRET"), rand_text(rng)])
        if "exchange" in t.grant_type or rng.random() < 0.05:
            t.subject_token = rng.choice([ph("ACCESS_TOKEN"), ph("ACCESS_TOKEN")[:-4], "a.b.c", rand_text(rng)])
            t.subject_token_type = rng.choice(["urn:ietf:params:oauth:token-type:access_token", rand_text(rng)])
            if rng.random() < 0.3:
                t.actor_token = rng.choice([ph("ACCESS_TOKEN"), rand_text(rng)])
                t.actor_token_type = rng.choice(["urn:ietf:params:oauth:token-type:access_token", rand_text(rng)])
            if rng.random() < 0.3:
                t.requested_token_type = rand_text(rng, ["urn:ietf:params:oauth:token-type:jwt"])
        if "bearer" in t.grant_type or rng.random() < 0.05:
            t.assertion = rng.choice(["a.b.c", "eyJ0eXAiOiJvYXV0aC1pZC1qYWcrand0In0.e30.c2ln", ph("ACCESS_TOKEN"),
                                      rand_text(rng)])
        if rng.random() < 0.1:
            t.client_assertion_type = rng.choice(["urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                                  rand_text(rng)])
            t.client_assertion = rng.choice(["a.b.c", "", rand_text(rng), ph("ACCESS_TOKEN")])
    elif call in ("introspect", "revoke"):
        t = getattr(req, call)
        t.token = rng.choice([ph("ACCESS_TOKEN"), ph("ACCESS_TOKEN")[:-10], rand_text(rng), "a.b.c",
                              "eyJhbGciOiJub25lIn0.e30."])
        if rng.random() < 0.3:
            t.token_type_hint = rng.choice(["access_token", "refresh_token", rand_text(rng)])
        if not req.authorization or rng.random() < 0.3:
            t.client_id = rng.choice([ph("CLIENT_ID"), rand_text(rng, known_ids)])
            t.client_secret = rng.choice([ph("CLIENT_SECRET"), rand_text(rng)])
    elif call == "server_info":
        req.server_info.SetInParent()
    elif call == "charge":
        c = req.charge
        c.token = rng.choice([ph("ACCESS_TOKEN"), ph("ACCESS_TOKEN"), ph("ACCESS_TOKEN")[:-10], rand_text(rng), ""])
        c.amount = rng.choice([1, 100, 1_000_000_000, 0, -1, 1_000_000_001, rand_int64(rng)])
        c.fail_when_exhausted = rng.random() < 0.5
    elif call == "get_quota":
        req.get_quota.client_id = rand_text(rng, known_ids + mine)
    elif call == "list_audit":
        a = req.list_audit
        a.SetInParent()
        if rng.random() < 0.3:
            a.after = rng.choice(["", "0" * 20, "f" * 20, "f" * 65, rand_text(rng)])
        if rng.random() < 0.3:
            a.since = rng.choice([0, 1, rand_int64(rng), -1])
        if rng.random() < 0.3:
            a.client_id = rand_text(rng, known_ids + mine)
        if rng.random() < 0.3:
            a.type = rng.choice(["client.", "token.issue", "", "x" * 65, rand_text(rng)])
        a.page_size = rand_uint32(rng)
    elif call == "client_history":
        req.client_history.client_id = rand_text(rng, known_ids + mine)
    elif call == "get_usage":
        u = req.get_usage
        u.SetInParent()
        if rng.random() < 0.5:
            u.client_id = rand_text(rng, known_ids + mine)
        u.page_size = rand_uint32(rng)
        if rng.random() < 0.3:
            u.page_token = rand_text(rng, mine)
    elif call == "create_client":
        req.create_client.client.CopyFrom(rand_client(rng, pb))
    elif call == "get_client":
        req.get_client.client_id = rand_text(rng, known_ids + mine)
    elif call == "list_clients":
        req.list_clients.page_size = rand_uint32(rng)
        if rng.random() < 0.5:
            req.list_clients.page_token = rand_text(rng, mine)
        req.list_clients.SetInParent()
    elif call == "update_client":
        u = req.update_client
        # Never the seeded clients: an update could lock the fuzzer out of them.
        u.client_id = rng.choice(mine) if mine and rng.random() < 0.6 else rand_text(rng)
        u.client.CopyFrom(rand_client(rng, pb, created=False))
        u.update_mask.extend(rand_list(rng, lambda: rng.choice(CLIENT_FIELDS + [rand_text(rng)]), big=False))
    elif call == "delete_client":
        req.delete_client.client_id = rng.choice(mine) if mine and rng.random() < 0.5 else rand_text(rng)
    elif call == "rotate_client_secret":
        r = req.rotate_client_secret
        r.client_id = rng.choice(mine) if mine and rng.random() < 0.5 else rand_text(rng)
        r.keep_previous_for = rand_int64(rng)
    elif call == "create_scope":
        req.create_scope.name = rand_text(rng)
        if rng.random() < 0.5:
            req.create_scope.description = rand_text(rng)
    elif call == "list_scopes":
        req.list_scopes.SetInParent()
    elif call == "delete_scope":
        mine_scopes = list(server.created_scopes[-20:])
        req.delete_scope.name = rng.choice(mine_scopes) if mine_scopes and rng.random() < 0.5 else rand_text(rng)
    elif call == "list_keys":
        req.list_keys.SetInParent()
    elif call == "rotate_key":
        req.rotate_key.activate_in = rng.choice([0, 0, 60, 600, rand_int64(rng)])
    elif call in USER_CALLS:
        build_user_call(rng, v, server, req, call)
    elif call == "list_consents":
        req.list_consents.user = rand_text(rng, [ph("USER_SUB"), "fuzz-user"])
    elif call == "revoke_consent":
        req.revoke_consent.user = rand_text(rng, [ph("USER_SUB"), "fuzz-user"])
        req.revoke_consent.client_id = rand_text(rng, known_ids + mine)
    elif call == "create_registration_token":
        c = req.create_registration_token
        c.SetInParent()
        c.ttl_seconds = rng.choice([0, 59, 60, 86_400, 31_536_001, -1, rand_int64(rng)])
        c.uses = rng.choice([0, 1, 5, 1_000_001, -1, rand_int64(rng)])
    elif call == "list_registration_tokens":
        req.list_registration_tokens.SetInParent()
    elif call == "revoke_registration_token":
        req.revoke_registration_token.id = rand_text(rng, ["iat_", "iat_" + "x" * 12])
    elif call == "add_trusted_issuer":
        a = req.add_trusted_issuer
        a.issuer = rng.choice(ISSUER_URLS + [rand_text(rng)])
        a.jwks_uri = rng.choice(ISSUER_URLS + [rand_text(rng)])
    elif call == "list_trusted_issuers":
        req.list_trusted_issuers.SetInParent()
    elif call == "remove_trusted_issuer":
        req.remove_trusted_issuer.issuer = rng.choice(ISSUER_URLS + [rand_text(rng)])
    return req


USER_CALLS = {"create_user", "get_user", "list_users", "update_user", "delete_user", "set_user_password",
              "set_user_disabled"}


def build_user_call(rng: random.Random, v: Vars, server: Server, req, call: str) -> None:
    """A user-management call (admin:users): usernames valid, taken in another case and invalid,
    users named by sub or username, passwords at and past bcrypt's limits."""
    mine = list(server.created_users[-20:])
    name = lambda: rng.choice(USERNAMES + [rand_text(rng)] * 3)  # noqa: E731
    # A user by sub or username: the seeded one, one the fuzzer made, or anything.
    user = lambda: rand_text(rng, [v.ph("USER_SUB"), "fuzz-user", "FUZZ-user"] + mine)  # noqa: E731
    password = lambda: rng.choice(PASSWORDS + [rand_text(rng)])  # noqa: E731
    if call == "create_user":
        c = req.create_user
        c.username = name() if rng.random() < 0.7 else "fuzz" + rand_word(rng)
        c.password = password()
        if rng.random() < 0.5:
            c.email = rng.choice(["a@b.example", "not-an-address", "@", "a@", rand_text(rng)])
        if rng.random() < 0.5:
            c.name = rand_text(rng)
    elif call == "get_user":
        req.get_user.user = user()
    elif call == "list_users":
        req.list_users.page_size = rand_uint32(rng)
        if rng.random() < 0.5:
            req.list_users.page_token = rand_text(rng, ["fuzz-user", "a"])
        req.list_users.SetInParent()
    elif call == "update_user":
        u = req.update_user
        u.user = user()
        if rng.random() < 0.6:
            u.email = rng.choice(["", "new@b.example", "bad", rand_text(rng)])
        if rng.random() < 0.6:
            u.name = rand_text(rng)
    elif call == "delete_user":
        # The seeded user stays (other inputs name it) unless a random text happens to name it.
        req.delete_user.user = rng.choice(mine) if mine and rng.random() < 0.5 else rand_text(rng)
    elif call == "set_user_password":
        req.set_user_password.user = user()
        req.set_user_password.password = password()
    elif call == "set_user_disabled":
        req.set_user_disabled.user = user()
        req.set_user_disabled.disabled = rng.random() < 0.5


# ---------------------------------------------------------------------------- mutations

def flip_bits(rng, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def set_bytes(rng, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if b:
            b[rng.randrange(len(b))] = rng.choice([0x00, 0xFF, 0x80, 0x7F, 0x0A, 0x12, 0x08, rng.randrange(256)])
    return bytes(b)


def varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def garbage_field(rng) -> bytes:
    field_no = rng.choice([1, 2, 10, 13, 20, 41, 99, 1000, (1 << 29) - 1, rng.randrange(1, 1 << 29)])
    wire_type = rng.choice([0, 1, 2, 3, 4, 5, 6, 7])
    tag = varint((field_no << 3) | wire_type)
    if wire_type == 0:
        return tag + rng.choice([varint(rng.randrange(1 << 64)), b"\xff" * 11, b"\x80" * 10 + b"\x01"])
    if wire_type == 1:
        return tag + bytes(rng.randrange(256) for _ in range(8))
    if wire_type == 2:
        n = rng.choice([0, 1, 5, 100, 10000])
        declared = rng.choice([n, n, n + 1, 0xFFFFFFFF, 1 << 62])
        return tag + varint(declared) + bytes(rng.randrange(256) for _ in range(n))
    if wire_type == 3:  # start group, maybe deeply nested, maybe never ended
        depth = rng.choice([1, 100, 10000, 50000])
        end = varint((field_no << 3) | 4)
        return tag * depth + (end * depth if rng.random() < 0.5 else b"")
    if wire_type == 5:
        return tag + bytes(rng.randrange(256) for _ in range(4))
    return tag + bytes(rng.randrange(256) for _ in range(rng.randint(0, 8)))


def invalid_utf8_string(rng) -> bytes:
    """authorization (field 2) holding bytes that are not UTF-8."""
    junk = rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"Bearer \x80"])
    return b"\x12" + varint(len(junk)) + junk


MUTATIONS = ["flip", "set", "truncate-keep-prefix", "truncate-fix-prefix", "duplicate", "concat", "garbage-field",
             "invalid-utf8", "prefix-off-by", "prefix-oversized", "empty-frame", "deep-groups", "huge-varint"]


def mutate(rng, payload: bytes, other: bytes) -> tuple[bytes, str]:
    """One mutated frame (length prefix included) from a valid payload."""
    m = rng.choice(MUTATIONS)
    if m == "flip":
        return wireproto.frame(flip_bits(rng, payload)), m
    if m == "set":
        return wireproto.frame(set_bytes(rng, payload)), m
    if m == "truncate-keep-prefix":
        cut = rng.randrange(len(payload)) if payload else 0
        return struct.pack(">I", len(payload)) + payload[:cut], m
    if m == "truncate-fix-prefix":
        cut = rng.randrange(len(payload)) if payload else 0
        return wireproto.frame(payload[:cut]), m
    if m == "duplicate":
        return wireproto.frame(payload * rng.choice([2, 3, 50] if len(payload) < 20_000 else [2, 3])), m
    if m == "concat":
        return wireproto.frame(payload + other if rng.random() < 0.5 else other + payload), m
    if m == "garbage-field":
        g = garbage_field(rng)
        pos = rng.choice([0, len(payload)])
        return wireproto.frame(payload[:pos] + g + payload[pos:]), m
    if m == "invalid-utf8":
        return wireproto.frame(payload + invalid_utf8_string(rng)), m
    if m == "prefix-off-by":
        delta = rng.choice([-4, -2, -1, 1, 2, 4, 100])
        return struct.pack(">I", max(0, len(payload) + delta)) + payload, m
    if m == "prefix-oversized":
        return struct.pack(">I", rng.choice([(1 << 20) + 1, 1 << 24, 0x7FFFFFFF, 0xFFFFFFFF])) + payload, m
    if m == "empty-frame":
        return b"\x00\x00\x00\x00", m
    if m == "deep-groups":
        g = b"\x9b\x06" * rng.choice([1000, 20000])  # field 99, start group
        return wireproto.frame(payload + g), m
    # huge-varint: an id varint longer than 10 bytes
    return wireproto.frame(b"\x08" + b"\xff" * rng.choice([10, 11, 20]) + payload), "huge-varint"


def generate(rng: random.Random, server: Server, mutated: bool) -> Input:
    v = Vars(server.vars)
    n = rng.choice([1, 1, 1, 2, 3, 5, 8])
    calls, payloads = [], []
    ids = set()
    for _ in range(n):
        call = rng.choice(CALLS)
        # Unique within a batch, so that an answer names its call; 0 and 2^64-1 now and then.
        rid = rng.choice([rng.randrange(1, 1 << 63)] * 6 + [0, (1 << 64) - 1])
        while rid in ids:
            rid = rng.randrange(1, 1 << 63)
        ids.add(rid)
        req = build_request(rng, v, server, call, rid)
        calls.append(call)
        payloads.append(req.SerializeToString())
    meta = {}
    notes = []
    if mutated:
        frames = []
        for p in payloads:
            if rng.random() < 0.6:
                f, m = mutate(rng, p, rng.choice(payloads))
                notes.append(m)
                frames.append(f)
            else:
                frames.append(wireproto.frame(p))
        if not notes:
            f, m = mutate(rng, payloads[0], payloads[-1])
            frames[0] = f
            notes.append(m)
        stream = b"".join(frames)
        if rng.random() < 0.1:
            stream = stream[:rng.randrange(len(stream) + 1)]
            notes.append("stream-truncated")
    else:
        stream = b"".join(wireproto.frame(p) for p in payloads)
    delivery = rng.random()
    if delivery < 0.25 and len(stream) < 200_000:
        sizes, total = [], 0
        while total < len(stream) and len(sizes) < 300:
            s = rng.choice([1, 1, 2, 3, 4, 5, 7, 13, 64])
            sizes.append(s)
            total += s
        meta["chunks"] = " ".join(map(str, sizes))
        if rng.random() < 0.3:
            meta["pause-ms"] = "1"
        notes.append("split")
    if rng.random() < 0.3:
        meta["half-close"] = "yes"
        notes.append("half-close")
    meta = {"description": f"{'mutated' if mutated else 'valid'} wire frames: {' '.join(calls)}"
                           + (f" [{', '.join(notes)}]" if notes else ""), **meta}
    return Input("wire", stream, meta)
