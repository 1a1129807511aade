"""The binary protocol from outside: frames over a raw TCP socket.

The Python protobuf modules are generated at run time from proto/authsec/v1/{authsec,client}.proto with
Debian's `protoc --python_out` into a temporary directory (nothing generated is committed).
"""

from __future__ import annotations

import atexit
import importlib
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_FRAME = 1 << 20  # the server's default --max-frame-size

_module = None


def pb():
    """The generated `authsec.v1.authsec_pb2` module."""
    global _module
    if _module is None:
        out = os.environ.get("FUZZ_PROTO_OUT")
        if not out:
            out = tempfile.mkdtemp(prefix="authsec-fuzz-proto-")
            atexit.register(shutil.rmtree, out, ignore_errors=True)
        if not (Path(out) / "authsec" / "v1" / "authsec_pb2.py").exists():
            subprocess.run(
                ["protoc", f"--proto_path={REPO_ROOT / 'proto'}", f"--python_out={out}",
                 "authsec/v1/authsec.proto", "authsec/v1/client.proto", "authsec/v1/activity.proto"],
                check=True,
            )
        sys.path.insert(0, out)
        _module = importlib.import_module("authsec.v1.authsec_pb2")
        # The client's messages live in client.proto, the audit event's and usage's in
        # activity.proto, which authsec.proto imports: reachable here too.
        for imported in ("authsec.v1.client_pb2", "authsec.v1.activity_pb2"):
            module = importlib.import_module(imported)
            for name in module.DESCRIPTOR.message_types_by_name:
                setattr(_module, name, getattr(module, name))
    return _module


STATUS_NAMES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def expected_answers(stream: bytes, max_frame: int = MAX_FRAME) -> tuple[int, bool]:
    """How the server frames `stream`: (complete frames it must answer, whether it meets an
    oversized length prefix, which earns one RESOURCE_EXHAUSTED answer and a close)."""
    pos, count = 0, 0
    while len(stream) - pos >= 4:
        (length,) = struct.unpack_from(">I", stream, pos)
        if length > max_frame:
            return count, True
        if len(stream) - pos - 4 < length:
            break
        pos += 4 + length
        count += 1
    return count, False


@dataclass
class WireResult:
    frames: list = field(default_factory=list)  # raw response payloads
    closed: bool = False  # the server closed (or reset) the connection
    # The server closed while the input was still being written: its answers may be lost in the
    # reset that unread input causes, so they cannot be judged.
    closed_while_writing: bool = False
    timed_out: bool = False
    error: str = ""
    elapsed: float = 0.0


def send(port: int, writes: list, half_close: bool, expected: int, deadline: float,
         pause: float = 0.0) -> WireResult:
    """Writes each chunk of `writes` (a frame split across many writes is many chunks), optionally
    half-closes, then reads response frames until `expected` arrived, the server closed, or
    `deadline` seconds passed."""
    result = WireResult()
    start = time.monotonic()
    buf = b""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=deadline)
    except OSError as exc:
        result.error = f"connect: {exc}"
        return result
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)

        def drain() -> bool:
            nonlocal buf
            try:
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return False
                    buf += chunk
            except BlockingIOError:
                return True

        def take_frames() -> None:
            nonlocal buf
            while len(buf) >= 4:
                (length,) = struct.unpack_from(">I", buf, 0)
                if len(buf) < 4 + length:
                    break
                result.frames.append(buf[4:4 + length])
                buf = buf[4 + length:]

        open_ = True
        for chunk in writes:
            view = memoryview(chunk)
            while view:
                if time.monotonic() - start > deadline:
                    result.timed_out = True
                    result.error = "could not write the input in time (the server stopped reading)"
                    return result
                _, w, _ = select.select([sock], [sock], [], 0.05)
                if w:
                    try:
                        sent = sock.send(view)
                        view = view[sent:]
                    except BlockingIOError:
                        pass
                    except (BrokenPipeError, ConnectionResetError):
                        result.closed = result.closed_while_writing = True
                        open_ = False
                        break
                try:
                    if open_ and not drain():
                        result.closed = True
                        open_ = False
                except ConnectionResetError:
                    result.closed = result.closed_while_writing = True
                    open_ = False
                take_frames()
            if not open_:
                if chunk is not writes[-1] or view:
                    result.closed_while_writing = True
                break
            if pause:
                time.sleep(pause)
        if open_ and half_close:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        while open_ and len(result.frames) < expected:
            left = deadline - (time.monotonic() - start)
            if left <= 0:
                result.timed_out = True
                break
            r, _, _ = select.select([sock], [], [], min(left, 0.25))
            if r:
                try:
                    if not drain():
                        result.closed = True
                        open_ = False
                except ConnectionResetError:
                    result.closed = True
                    open_ = False
            take_frames()
        take_frames()
    except ConnectionResetError:
        result.closed = True
    finally:
        sock.close()
        result.elapsed = time.monotonic() - start
    return result


def exchange(port: int, data: bytes, expected: int, deadline: float = 10.0):
    """Sends `data` and returns the decoded responses (for the harness's own calls)."""
    result = send(port, [data], False, expected, deadline)
    out = []
    for raw in result.frames:
        resp = pb().Response()
        resp.ParseFromString(raw)
        out.append(resp)
    return out


def _fill_message(msg, vars_) -> None:
    from google.protobuf.descriptor import FieldDescriptor as F
    for fd, value in msg.ListFields():
        if fd.type == F.TYPE_STRING:
            if fd.label == F.LABEL_REPEATED:
                items = [vars_.fill_text(v) for v in value]
                del value[:]
                value.extend(items)
            else:
                setattr(msg, fd.name, vars_.fill_text(value))
        elif fd.type == F.TYPE_MESSAGE:
            if fd.message_type.GetOptions().map_entry:
                continue  # map<string, string> endpoints: no placeholders there
            if fd.label == F.LABEL_REPEATED:
                for item in value:
                    _fill_message(item, vars_)
            else:
                _fill_message(value, vars_)


def fill_stream(template: bytes, vars_) -> bytes:
    """Fills a wire template. Placeholders are padded to their values' lengths, so bytes are
    replaced in place; if a value's length has changed since the template was made, each frame
    that is a well-formed Request is decoded, filled and encoded again with its new length."""
    filled = vars_.fill(template)
    if len(filled) == len(template):
        return filled
    out, pos = b"", 0
    while len(template) - pos >= 4:
        (length,) = struct.unpack_from(">I", template, pos)
        if length > MAX_FRAME or len(template) - pos - 4 < length:
            break
        payload = template[pos + 4:pos + 4 + length]
        new = vars_.fill(payload)
        if len(new) != len(payload):
            try:
                req = pb().Request()
                req.ParseFromString(payload)
                if req.SerializeToString() == payload:
                    _fill_message(req, vars_)
                    new = req.SerializeToString()
                    out += frame(new)
                    pos += 4 + length
                    continue
            except Exception:
                pass
        out += template[pos:pos + 4] + new
        pos += 4 + length
    return out + vars_.fill(template[pos:])
