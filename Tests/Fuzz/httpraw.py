"""HTTP/1.x over a raw socket: send exactly the bytes given, parse whatever comes back."""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass, field


@dataclass
class HTTPResponse:
    version: bytes
    status: int
    reason: bytes
    headers: list  # [(name lower, value)]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def short(self) -> str:
        body = self.body[:200].decode("utf-8", errors="replace")
        return f"{self.status} {self.reason.decode(errors='replace')} {body}"


@dataclass
class HTTPResult:
    responses: list = field(default_factory=list)
    closed: bool = False
    timed_out: bool = False
    garbage: bytes = b""  # bytes that do not parse as a response
    error: str = ""
    elapsed: float = 0.0


class _NeedMore(Exception):
    pass


def _parse_one(buf: bytes, head_only: bool, at_eof: bool):
    """One response from the front of `buf`: (response, bytes used). Raises _NeedMore."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        raise _NeedMore()
    head = buf[:end].split(b"\r\n")
    parts = head[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not a status line: {head[0][:80]!r}")
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else b""
    headers = []
    for line in head[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    pos = end + 4
    resp = HTTPResponse(parts[0], status, reason, headers, b"")
    if head_only or 100 <= status < 200 or status in (204, 304):
        return resp, pos
    te = resp.header(b"transfer-encoding")
    cl = resp.header(b"content-length")
    if te is not None and b"chunked" in te.lower():
        body = b""
        while True:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                raise _NeedMore()
            size = int(buf[pos:line_end].split(b";")[0].strip() or b"0", 16)
            pos = line_end + 2
            if size == 0:
                trailer_end = buf.find(b"\r\n\r\n", pos - 2)
                if trailer_end < 0:
                    raise _NeedMore()
                pos = trailer_end + 4
                break
            if len(buf) < pos + size + 2:
                raise _NeedMore()
            body += buf[pos:pos + size]
            pos += size + 2
        resp.body = body
        return resp, pos
    if cl is not None:
        n = int(cl)
        if len(buf) < pos + n:
            raise _NeedMore()
        resp.body = buf[pos:pos + n]
        return resp, pos + n
    if not at_eof:
        raise _NeedMore()
    resp.body = buf[pos:]
    return resp, len(buf)


def send(port: int, writes: list, methods: list, expected: int, deadline: float,
         half_close: bool = False, pause: float = 0.0) -> HTTPResult:
    """Writes the chunks in `writes`, optionally half-closes, and reads responses until `expected`
    final responses arrived (1xx ones are skipped), the server closed, or `deadline` passed.
    `methods` gives each expected response's request method (HEAD responses have no body)."""
    result = HTTPResult()
    start = time.monotonic()
    buf = b""
    eof = False
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=deadline)
    except OSError as exc:
        result.error = f"connect: {exc}"
        return result

    def parse(at_eof: bool) -> None:
        nonlocal buf
        while buf and not result.garbage:
            idx = len(result.responses)
            head_only = idx < len(methods) and methods[idx] == b"HEAD"
            try:
                resp, used = _parse_one(buf, head_only, at_eof)
            except _NeedMore:
                if at_eof:
                    result.garbage = buf
                return
            except ValueError:
                result.garbage = buf
                return
            buf = buf[used:]
            if 100 <= resp.status < 200:
                continue
            result.responses.append(resp)

    def drain() -> None:
        nonlocal buf, eof
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    eof = True
                    return
                buf += chunk
        except BlockingIOError:
            return
        except ConnectionResetError:
            eof = True

    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        for chunk in writes:
            view = memoryview(chunk)
            while view and not eof:
                if time.monotonic() - start > deadline:
                    result.timed_out = True
                    result.error = "could not write the input in time"
                    break
                _, w, _ = select.select([], [sock], [], 0.05)
                if w:
                    try:
                        view = view[sock.send(view):]
                    except BlockingIOError:
                        pass
                    except (BrokenPipeError, ConnectionResetError):
                        eof = True
                drain()
            if eof or result.timed_out:
                break
            if pause:
                time.sleep(pause)
        if not eof and half_close:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        while not eof and len(result.responses) < expected:
            left = deadline - (time.monotonic() - start)
            if left <= 0:
                result.timed_out = True
                break
            r, _, _ = select.select([sock], [], [], min(left, 0.25))
            if r:
                drain()
            parse(False)
        if eof:
            drain()
        parse(eof)
        result.closed = eof
    finally:
        sock.close()
        result.elapsed = time.monotonic() - start
    return result
