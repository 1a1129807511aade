"""JWT client assertions (RFC 7523) for the private_key_jwt client, signed with its real key, with
odd claims: huge, negative, textual and fractional `exp`; empty and 10 KB `sub`/`jti`; missing
claims; `aud` arrays; odd headers; payloads that are not JSON objects."""

from __future__ import annotations

import json
import random

from corpus import Input
from harness import Server

NUMERIC_ODDITIES = [1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308, 9.3e18, -9.3e18,
                    2**63, 2**63 - 1, -(2**63) - 1, 2**64, 10**30, -1, 0, 0.5, "${NOW+60}", "${NOW-60}",
                    "${NOW+301}", "${NOW+299}", "${NOW+86400}", 1e-300, 5e-324]
TEXT_ODDITIES = ["NaN", "Infinity", "-Infinity", "1e300", "soon", "", "${NOW+60}x", "0x10", " 1700000000"]
OTHER_ODDITIES = [None, True, False, [], {}, [1], {"a": 1}]
# Bare JSON tokens that are not JSON (NaN) or overflow a Double, spliced into the payload text.
RAW_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" * 400, "0." + "0" * 400 + "1", "1E+99999",
               "-0", "1.0e+300"]
STRING_CLAIMS = ["iss", "sub", "jti"]


def odd_string(rng: random.Random) -> object:
    return rng.choice(["", "${REPEAT:j:10240}", "${REPEAT:s:600}", "${REPEAT:k:511}", "${REPEAT:k:512}",
                       "\u0000", "a\u0000b", "\U0001F600" * 30, "${PK_CLIENT_ID} ", " ${PK_CLIENT_ID}",
                       "${CLIENT_ID}", "${PK_CLIENT_ID}\u0000", 12345, None, ["${PK_CLIENT_ID}"], {"id": 1}])


def odd_aud(rng: random.Random) -> object:
    return rng.choice([["${ISSUER}"], ["${TOKEN_ENDPOINT}"], ["${ISSUER}", "${TOKEN_ENDPOINT}"], [], [[]],
                       ["${ISSUER}"] * 1000, [None], [1, 2], "", "${ISSUER}/", "https://evil.example",
                       ["${REPEAT:a:10240}"], {"aud": "${ISSUER}"}, 7])


def generate(rng: random.Random, server: Server) -> Input:
    claims = {"iss": "${PK_CLIENT_ID}", "sub": "${PK_CLIENT_ID}",
              "aud": rng.choice(["${TOKEN_ENDPOINT}", "${ISSUER}"]), "jti": "${UNIQUE}",
              "iat": "${NOW}", "exp": "${NOW+60}"}
    notes = []
    want_header = False
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        m = rng.choice(["exp", "exp", "exp", "iat", "nbf", "string", "string", "string", "aud", "missing",
                        "extra", "raw", "header"])
        if m in ("exp", "iat", "nbf"):
            pool = NUMERIC_ODDITIES + TEXT_ODDITIES + OTHER_ODDITIES
            claims[m] = rng.choice(pool)
            notes.append(f"{m}={json.dumps(claims[m])[:40]}")
        elif m == "string":
            key = rng.choice(STRING_CLAIMS)
            claims[key] = odd_string(rng)
            notes.append(f"{key}={json.dumps(claims[key])[:40]}")
        elif m == "aud":
            claims["aud"] = odd_aud(rng)
            notes.append(f"aud={json.dumps(claims['aud'])[:40]}")
        elif m == "missing":
            key = rng.choice(list(claims))
            claims.pop(key, None)
            notes.append(f"no {key}")
        elif m == "extra":
            claims[rng.choice(["x", "cnf", "nested", "${REPEAT:c:600}"])] = rng.choice(
                ["${REPEAT:v:20000}", {"a": {"b": {"c": [1, 2, 3]}}}, list(range(1000)), None])
            notes.append("extra claim")
        elif m == "raw":
            notes.append("raw payload")
        elif m == "header":
            want_header = True
    doc: dict = {"door": rng.choice(["http", "http", "wire"]),
                 "endpoint": rng.choice(["token", "token", "token", "introspect", "revoke"])}
    if "raw payload" in notes:
        r = rng.random()
        text = json.dumps(claims, ensure_ascii=False)
        if r < 0.4:
            key = rng.choice(["exp", "iat", "nbf"])
            token = rng.choice(RAW_NUMBERS)
            claims[key] = "@@RAW@@"
            text = json.dumps(claims, ensure_ascii=False).replace('"@@RAW@@"', token)
            notes.append(f"{key}={token[:20]}")
        elif r < 0.6:
            text = rng.choice(["null", "[]", "[1,2]", '"string"', "42", "", "{", "{}", "not json",
                               '{"exp":' * 2000, "\u00ff\u00fe", '{"iss":"${PK_CLIENT_ID}"}{}'])
        elif r < 0.8:
            text = text.replace("{", '{"exp":1e300,', 1) if rng.random() < 0.5 else text[:-1] + ',"exp":1}'
            notes.append("duplicate exp")
        else:
            text = text[: rng.randrange(len(text))]
            notes.append("truncated")
        doc["payload_text"] = text
    else:
        doc["claims"] = claims
    if want_header or rng.random() < 0.04:
        doc["header"] = rng.choice([
            {"alg": "ES256", "kid": "${PK_KID}", "typ": "JWT", "crit": ["exp"]},
            {"alg": "ES256", "kid": "no-such-kid"},
            {"alg": "ES256"},
            {"alg": "ES256", "kid": "${REPEAT:k:10240}"},
            {"alg": "none", "kid": "${PK_KID}"},
            {"alg": "HS256", "kid": "${PK_KID}"},
            {"alg": "ES256", "kid": 5},
            {"alg": "ES256", "kid": "${PK_KID}", "jku": "http://127.0.0.1:1/jwks"},
        ])
        notes.append(f"header={json.dumps(doc['header'])[:40]}")
    if rng.random() < 0.05:
        doc["signature"] = "corrupt"
        notes.append("bad signature")
    if rng.random() < 0.15:
        doc["client_id"] = False
        notes.append("no client_id parameter")
    meta = {"description": f"assertion over {doc['door']} ({doc['endpoint']}): " + (", ".join(notes) or "valid")}
    doc = {**meta, **doc}
    return Input("assertion", json.dumps(doc, ensure_ascii=False).encode(), meta)
