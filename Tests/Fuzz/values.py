"""Random field values, and placeholders for the values that change from run to run.

A generated input is a *template*: wherever it needs a credential or id of the running server
(the seeded client's id and secret, the admin's bearer token, ...) it holds a placeholder
`${NAME~~~}` padded with `~` to the real value's length. Filling it in then changes no length,
so a frame's length prefix, a protobuf field length or a Content-Length stays right, and the
template can be saved to the corpus and replayed against a later server.
"""

from __future__ import annotations

import random
import re

PLACEHOLDER = re.compile(rb"\$\{([A-Z_]+)~*\}")


class Vars:
    def __init__(self, values: dict):
        self.values = dict(values)

    def ph(self, name: str) -> str:
        """The placeholder for `name`, padded to the length of its current value."""
        value = self.values[name]
        text = "${" + name + "}"
        pad = len(value.encode()) - len(text)
        return "${" + name + "~" * pad + "}" if pad > 0 else text

    def fill(self, data: bytes) -> bytes:
        def sub(m: re.Match) -> bytes:
            name = m.group(1).decode()
            if name not in self.values:
                return m.group(0)
            return self.values[name].encode()

        return PLACEHOLDER.sub(sub, data)

    def fill_text(self, text: str) -> str:
        return self.fill(text.encode("utf-8", "surrogatepass")).decode("utf-8", "surrogatepass")


ODD_UNICODE = [
    "\u202e\u202dright-to-left",  # bidi overrides
    "\ufeffbom",
    "\U0001F600" * 40,  # emoji (4-byte UTF-8)
    "e\u0301" * 50,  # combining marks
    "\u200d\u200c\u200b",  # zero-width characters
    "\uffff\ufffe\ufffd",  # noncharacters and the replacement character
    "\u0130\u0131\u00df\ufb03",  # case-mapping oddities (İ ı ß ﬃ)
    "\u4e2d\u6587\u540d\u5b57",
    "\u0000",
    "a\u0000b",
    "\u0000" * 600,
    "\x7f\x1b[31m\x1b]0;title\x07",  # DEL and terminal escapes
    "\r\n\r\nInjected: header",
    "\u2028\u2029",
    "\U0010FFFF",
    "\u00a0 \u3000",
]

TRICKY_ASCII = [
    "%s%n%x", "../../../etc/passwd", "' OR '1'='1", "{\"a\":1}", "<script>", "a b", " ", "\t", "\n",
    "admin", "*", "?", "%00", "%", "+", "=", "&", ";", ",", ":", "\\", "null", "true", "-1", "0", "1e300",
]


def rand_word(rng: random.Random, n: int | None = None) -> str:
    n = n if n is not None else rng.randint(1, 16)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789:_-.") for _ in range(n))


def long_text(rng: random.Random, n: int) -> str:
    return rng.choice(["a" * n, "\u00e9" * (n // 2), rand_word(rng, 16) * (n // 16 + 1)])[:n]


def rand_text(rng: random.Random, real: list | None = None) -> str:
    """A string field value: empty, sizes around LMDB's 511-byte key limit, 600 bytes, 10 KB,
    odd unicode, NUL bytes, tricky ASCII, or (with `real`) one of the values that exist."""
    r = rng.random()
    if r < 0.14:
        return ""
    if r < 0.24:
        return rand_word(rng)
    if r < 0.32:
        return long_text(rng, rng.choice([511, 512, 513]))
    if r < 0.42:
        return long_text(rng, 600)
    if r < 0.50:
        return long_text(rng, 10 * 1024)
    if r < 0.52:
        return long_text(rng, rng.choice([64 * 1024, 200 * 1024]))
    if r < 0.66:
        return rng.choice(ODD_UNICODE)
    if r < 0.76:
        return rng.choice(TRICKY_ASCII)
    if real:
        return rng.choice(real)
    return rand_word(rng)


INT64_EDGES = [0, 1, -1, 59, 60, 3600, 86400, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**62, 2**63 - 1, -(2**63),
               -(2**31), 10**12, -3600]


def rand_int64(rng: random.Random) -> int:
    if rng.random() < 0.7:
        return rng.choice(INT64_EDGES)
    return rng.randint(-(2**63), 2**63 - 1)


def rand_uint32(rng: random.Random) -> int:
    return rng.choice([0, 1, 2, 49, 50, 51, 499, 500, 501, 1000, 2**31, 2**32 - 1, rng.randint(0, 2**32 - 1)])


def rand_url(rng: random.Random) -> str:
    return rng.choice([
        "https://app.fuzz.example/cb", "http://localhost:3000/cb", "http://127.0.0.1/cb", "http://[::1]:8080/x",
        "http://127.example.com/cb", "https://a.example/cb#frag", "com.example.app:/cb", "javascript:alert(1)",
        "https://", "", "not a url", "https://" + "a" * 600 + ".example/", "https://xn--e1afmkfd.example/\u00e9",
        "http://0x7f.1/", "http://127.1/", "https://[::ffff:127.0.0.1]/", "file:///etc/passwd",
        "https://app.example/" + "%" * 10, "https://user:pw@app.example/", "https://app.example:99999/",
    ])


def fill_http(template: bytes, vars_: Vars) -> bytes:
    """Fills an HTTP template. If a placeholder's value no longer has the length it was padded to,
    each request's Content-Length is corrected by the change inside its body."""
    filled = vars_.fill(template)
    if len(filled) == len(template):
        return filled
    out, pos = b"", 0
    while pos < len(template):
        head_end = template.find(b"\r\n\r\n", pos)
        if head_end < 0:
            break
        head = template[pos:head_end + 4]
        m = re.search(rb"(?im)^content-length:[ \t]*(\d+)[ \t]*\r$", head)
        n = int(m.group(1)) if m else 0
        body = template[head_end + 4:head_end + 4 + n]
        new_body = vars_.fill(body)
        if m and len(new_body) != len(body):
            head = head[:m.start(1)] + str(len(new_body)).encode() + head[m.end(1):]
        out += vars_.fill(head) + new_body
        pos = head_end + 4 + n
    return out + vars_.fill(template[pos:])
