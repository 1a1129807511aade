"""Client files for `authsec clients create --file F --json`: the seed's body mutated with wrong
types, two spellings of one key (`agentType` and `agent_type`), repeated keys, deep nesting,
huge arrays and strings, and text that is not JSON at all."""

from __future__ import annotations

import json
import random

from corpus import Input
from harness import CUSTOM_SCOPE, Server

SEED = {
    "name": "My AI Assistant",
    "description": "An intelligent conversational AI agent",
    "app_type": "ai_agent",
    "grant_types": ["client_credentials"],
    "token_endpoint_auth_method": "client_secret_post",
    "callbacks": ["https://myapp.com/callback"],
    "web_origins": ["https://myapp.com"],
    "allowed_scopes": ["openid", CUSTOM_SCOPE],
}

OPTIONAL = {
    "logo": "https://myapp.com/logo.png", "website": "https://myapp.com", "logout_urls": ["https://myapp.com/bye"],
    "allowed_audiences": ["https://api.myapp.com"], "access_token_lifetime": 3600,
    "refresh_token_lifetime": 2592000, "id_token_lifetime": 3600, "rotate_refresh_token": True,
    "require_proof_key_for_code_exchange": False, "require_pushed_authorization_requests": False,
    "agent_config": {"agent_type": "conversational", "capabilities": ["chat"], "context_retention": "24h",
                     "max_context_size": 8192, "rate_limits": {"requests_per_minute": 60, "tokens_per_day": 100000}},
    "mcp_config": {"protocol_version": "2024-11-05", "supported_features": ["tools"],
                   "endpoints": {"tools": "https://mcp.myapp.com/tools"},
                   "security": {"require_auth": True, "allowed_origins": ["https://myapp.com"]}},
    "token_config": {"access_token_lifetime": 600},
}

# Spellings the reader folds into one key (camelCase, the seed's groupings, RFC 7591 names).
ALIASES_TOP = [
    ["app_type", "appType", "type", "application_type"], ["grant_types", "grantTypes"],
    ["token_endpoint_auth_method", "tokenEndpointAuthMethod"], ["web_origins", "webOrigins"],
    ["allowed_scopes", "allowedScopes", "scopes", "scope"], ["callbacks", "redirect_uris", "redirectUris"],
    ["name", "client_name", "clientName"], ["logo", "logo_uri", "logoUri"], ["website", "client_uri", "clientUri"],
    ["allowed_audiences", "allowedAudiences", "audiences"], ["logout_urls", "logoutUrls"],
    ["agent_config", "agentConfig", "aiAgentConfig", "ai_agent_config", "ai_config"],
    ["mcp_config", "mcpConfig", "mcp_server_config", "mcpServerConfig"], ["token_config", "tokenConfig"],
    ["require_proof_key_for_code_exchange", "require_pkce", "requirePkce"], ["jwks_uri", "jwksUri"],
    ["access_token_lifetime", "accessTokenLifetime"],
]
ALIASES_AGENT = [["agent_type", "agentType"], ["max_context_size", "maxContextSize"],
                 ["context_retention", "contextRetention"], ["rate_limits", "rateLimits"]]
ALIASES_MCP = [["protocol_version", "protocolVersion"], ["supported_features", "supportedFeatures"]]

WRONG = [1, -1, 0, 1.5, True, False, None, [], {}, "text", [1, 2], {"a": 1}, [[["x"]]], "", [None], 2**64,
         -(2**63) - 1, 1e300, "\u0000", ["\U0001F600"], 9.99e18]


class Raw:
    """A value written as given, not JSON-encoded (for 1e400, NaN, lone surrogates, ...)."""

    def __init__(self, text: str):
        self.text = text


def dump(value) -> str:
    """JSON text; a list of pairs `Pairs` keeps repeated keys."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Pairs):
        return "{" + ",".join(json.dumps(k) + ":" + dump(v) for k, v in value.items) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + dump(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


class Pairs:
    def __init__(self, items: list):
        self.items = items


def nested(rng: random.Random, depth: int):
    if rng.random() < 0.5:
        return Raw("[" * depth + "]" * depth)
    return Raw('{"a":' * depth + "1" + "}" * depth)


def generate(rng: random.Random, server: Server) -> Input:
    doc = dict(SEED)
    for key in rng.sample(list(OPTIONAL), rng.randint(0, 4)):
        doc[key] = json.loads(json.dumps(OPTIONAL[key]))
    notes = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        m = rng.choice(["wrong-type", "wrong-type", "alias-dup", "alias-dup", "alias-dup", "repeat-key", "deep",
                        "huge-array", "huge-string", "raw-number", "nested-wrong", "unknown", "garbage"])
        if m == "wrong-type":
            key = rng.choice(list(SEED) + list(OPTIONAL))
            doc[key] = rng.choice(WRONG)
            notes.append(f"{key}={json.dumps(doc[key])[:30]}")
        elif m == "alias-dup":
            where = rng.choice(["top", "agent", "mcp"])
            group = rng.choice({"top": ALIASES_TOP, "agent": ALIASES_AGENT, "mcp": ALIASES_MCP}[where])
            a, b = rng.sample(group, 2)
            va, vb = rng.choice([(1, 2), ("x", "y"), ("conversational", "task"), (["a"], ["b"]), ({}, {}),
                                 (True, False)])
            if where == "top":
                doc[a], doc[b] = va, vb
            else:
                key = "agent_config" if where == "agent" else "mcp_config"
                inner = doc.get(key) if isinstance(doc.get(key), dict) else {}
                inner = dict(inner)
                inner[a], inner[b] = va, vb
                doc[key] = inner
            notes.append(f"{a}+{b}")
        elif m == "repeat-key":
            key = rng.choice(list(doc))
            items = list(doc.items()) + [(key, rng.choice(WRONG + [doc[key]]))]
            doc = {"__pairs__": Pairs(items)}
            notes.append(f"{key} twice")
            break
        elif m == "deep":
            depth = rng.choice([64, 513, 10_000, 100_000])
            key = rng.choice(["name", "agent_config", "jwks", "callbacks", "unknown_key", "mcp_config"])
            doc[key] = nested(rng, depth)
            notes.append(f"{key} nested {depth} deep")
        elif m == "huge-array":
            key = rng.choice(["callbacks", "allowed_scopes", "grant_types", "web_origins", "allowed_audiences"])
            n = rng.choice([1000, 100_000])
            doc[key] = [rng.choice(["https://myapp.com/cb", "openid", "client_credentials", "x"])] * n
            notes.append(f"{key} of {n}")
        elif m == "huge-string":
            key = rng.choice(["name", "description", "logo", "app_type", "jwks_uri"])
            doc[key] = "n" * rng.choice([600, 10_240, 1_000_000])
            notes.append(f"{key} of {len(doc[key])} chars")
        elif m == "raw-number":
            key = rng.choice(["access_token_lifetime", "refresh_token_lifetime", "id_token_lifetime"])
            doc[key] = Raw(rng.choice(["1e400", "-1e400", "NaN", "1" * 400, "3600.5", "-0", "1E2", "0x10"]))
            notes.append(f"{key}={doc[key].text[:20]}")
        elif m == "nested-wrong":
            key = rng.choice(["agent_config", "mcp_config", "token_config"])
            doc[key] = rng.choice([{"rate_limits": rng.choice(WRONG)}, {"security": rng.choice(WRONG)},
                                   {"endpoints": rng.choice(WRONG)}, {"max_context_size": rng.choice(WRONG)},
                                   {"access_token_lifetime": rng.choice(WRONG)}, rng.choice(WRONG)])
            notes.append(f"{key} wrong inside")
        elif m == "unknown":
            doc[rng.choice(["somethingUnknown", "", " ", "\u0000", "_", "A", "aB_cD", "x" * 600])] = 1
            notes.append("unknown key")
        else:
            text = rng.choice(["", "null", "[]", "1", '"s"', "{", '{"name":}', "{'name':'x'}", '{"name":"x",}',
                               "\ufeff" + json.dumps(SEED), json.dumps(SEED) + "garbage", '{"name":"\\ud800"}',
                               '{"name":"\\u0000"}', "// c\n" + json.dumps(SEED), json.dumps([SEED])])
            data = text.encode("utf-8", "surrogatepass")
            if rng.random() < 0.2:
                data = json.dumps(SEED).encode()[:-1] + b',"name":"\xff\xfe"}'
            return Input("client", data, {"description": "client file: not JSON, or not an object"})
    body = doc["__pairs__"] if "__pairs__" in doc else doc
    data = dump(body).encode("utf-8", "surrogatepass")
    return Input("client", data, {"description": "client file: " + (", ".join(notes) or "valid")})
