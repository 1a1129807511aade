"""Inputs and their files: the corpus (Tests/Fuzz/corpus/) and new findings (Tests/Fuzz/findings/).

One file per input; the name's prefix says what it is:

  http-*.txt        raw bytes written to the HTTP door
  wire-*.bin        raw bytes written to the wire door (length-prefixed frames, or not)
  assertion-*.json  a JWT client assertion: header, claims (or a raw payload), door and endpoint
  client-*.json     a client file for `authsec clients create --file F --json`, verbatim

http and wire files start with a text header, one `#key: value` line each, ended by `#---`;
the bytes after that line are the payload, sent exactly (after filling placeholders):

  #authsec-fuzz http
  #description: empty client_id over HTTP gave 500 storage error
  #expect: 1                  responses owed (complete, well-formed requests)
  #requests: POST /oauth/token
  #chunks: 3 1 1 200          optional: write the payload in pieces of these sizes
  #half-close: yes            optional: shut down the write side after writing
  #---
  POST /oauth/token HTTP/1.1 ...

Placeholders `${NAME~~~}` (see values.py) stand for values of the running server: CLIENT_ID,
CLIENT_SECRET, BASIC, ACCESS_TOKEN, ADMIN_ID, ADMIN_SECRET, ADMIN_BASIC, ADMIN_BEARER,
PK_CLIENT_ID, PK_KID, USER_SUB (the seeded user `fuzz-user`), ISSUER, TOKEN_ENDPOINT, HOST. In assertion files, strings may also be
`${NOW}`, `${NOW+60}` / `${NOW-60}` (replaced by a number), `${UNIQUE}` (a fresh jti) and
`${REPEAT:x:10240}` (10240 times "x").

client-*.json files have no header, so that `authsec clients create --file` takes them as they
are; their name describes them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"#authsec-fuzz"
TYPES = ("http", "wire", "assertion", "client")
EXTENSIONS = {"http": "txt", "wire": "bin", "assertion": "json", "client": "json"}


@dataclass
class Input:
    type: str
    payload: bytes
    meta: dict = field(default_factory=dict)
    origin: str = ""  # the corpus file it came from, or "seed S #i"
    path: Path | None = None  # the file it was read from
    # HTTP: each request's bytes, label and whether it is owed an answer (for minimizing).
    parts: list | None = None

    @property
    def description(self) -> str:
        return self.meta.get("description", "")

    def chunks(self) -> list:
        text = self.meta.get("chunks", "")
        return [int(x) for x in text.split()] if text else []

    def split(self, data: bytes) -> list:
        sizes = self.chunks()
        if not sizes:
            return [data]
        out, pos = [], 0
        for n in sizes:
            if pos >= len(data):
                break
            out.append(data[pos:pos + n])
            pos += n
        if pos < len(data):
            out.append(data[pos:])
        return out

    @property
    def half_close(self) -> bool:
        return self.meta.get("half-close", "no") == "yes"

    def assertion(self) -> dict:
        return json.loads(self.payload)

    def summary(self, limit: int = 600) -> str:
        """The input, shown in a report."""
        head = f"{self.type} input ({self.origin})"
        if self.description:
            head += f": {self.description}"
        extras = {k: v for k, v in self.meta.items() if k not in ("description", "seed", "kind")}
        if extras:
            head += "\n    " + ", ".join(f"{k}={v}" for k, v in extras.items())
        shown = self.payload[:limit]
        body = repr(shown) if self.type in ("wire",) else shown.decode("utf-8", "backslashreplace")
        more = f" ... ({len(self.payload)} bytes in all)" if len(self.payload) > limit else ""
        return f"{head}\n    payload: {body}{more}"


def serialize(inp: Input) -> bytes:
    if inp.type == "client":
        return inp.payload
    if inp.type == "assertion":
        doc = json.loads(inp.payload)
        for k, v in inp.meta.items():
            doc.setdefault(k, v)
        return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode()
    lines = [MAGIC + b" " + inp.type.encode()]
    for k, v in inp.meta.items():
        v = str(v).replace("\n", " ")
        lines.append(f"#{k}: {v}".encode())
    lines.append(b"#---")
    return b"\n".join(lines) + b"\n" + inp.payload


def parse(path: Path) -> Input:
    kind = path.name.split("-", 1)[0]
    if kind not in TYPES:
        raise ValueError(f"{path.name}: the name must start with one of {', '.join(t + '-' for t in TYPES)}")
    data = path.read_bytes()
    meta: dict = {}
    if kind == "assertion":
        doc = json.loads(data)
        for k in ("description", "seed", "kind"):
            if k in doc:
                meta[k] = doc[k]
        return Input(kind, data, meta, origin=f"{path.parent.name}/{path.name}", path=path)
    if kind == "client":
        meta["description"] = path.stem.removeprefix("client-").replace("-", " ")
    if kind != "client" and data.startswith(MAGIC):
        end = data.find(b"\n#---\n")
        if end < 0:
            raise ValueError(f"{path.name}: header without its closing '#---' line")
        for line in data[:end].split(b"\n")[1:]:
            key, _, value = line[1:].decode().partition(":")
            meta[key.strip()] = value.strip()
        data = data[end + len(b"\n#---\n"):]
    return Input(kind, data, meta, origin=f"{path.parent.name}/{path.name}", path=path)


def load_dir(directory: Path) -> list:
    if not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.name.split("-", 1)[0] in TYPES:
            out.append(parse(path))
    return out


def slug(text: str, limit: int = 60) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")


def write_finding(directory: Path, inp: Input, kind: str, seed: int) -> Path:
    """Writes `inp` as a corpus file named after its failure kind and the seed."""
    directory.mkdir(parents=True, exist_ok=True)
    meta = {"description": f"found by the fuzzer: {kind}", "kind": kind, "seed": str(seed)}
    meta.update({k: v for k, v in inp.meta.items() if k not in meta})
    out = Input(inp.type, inp.payload, meta, inp.origin)
    digest = hashlib.sha256(inp.payload).hexdigest()[:8]
    path = directory / f"{inp.type}-{slug(kind)}-s{seed}-{digest}.{EXTENSIONS[inp.type]}"
    path.write_bytes(serialize(out))
    return path


def single_parts(inp: Input) -> list:
    """The inputs made of one frame (wire) or one request (HTTP) of a batch `inp`, delivered the
    same way but in one write; empty when `inp` holds only one."""
    out = []
    keep = {k: v for k, v in inp.meta.items() if k not in ("chunks", "pause-ms", "expect", "requests")}
    if inp.type == "wire":
        pos, frames = 0, []
        data = inp.payload
        while len(data) - pos >= 4:
            length = int.from_bytes(data[pos:pos + 4], "big")
            if length > 1 << 20 or len(data) - pos - 4 < length:
                break
            frames.append(data[pos:pos + 4 + length])
            pos += 4 + length
        if len(frames) >= 2 or (frames and pos < len(data)):
            out = [Input("wire", f, dict(keep)) for f in frames]
    elif inp.type == "http" and inp.parts and len(inp.parts) >= 2:
        for data, label, owed in inp.parts:
            meta = dict(keep, expect="1" if owed else "0", requests=label)
            out.append(Input("http", data, meta))
    return out
