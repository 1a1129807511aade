"""Both doors against hostile connections, from outside, over real loopback sockets.

A client that pipelines without reading, one that trickles half a request (slowloris), one that
half-closes after writing, too many connections from one address, and requests NIO's HTTP parser
refuses. The wire protocol is hand-encoded here (a few protobuf fields), as a foreign client would.
"""

from __future__ import annotations

import base64
import re
import socket
import struct
import time

import pytest
import requests

from test_interop import HTTP_TIMEOUT, launch

DEADLINE_SECONDS = 2
PER_ADDRESS = 4


# --------------------------------------------------------------------------
# A minimal wire client: Request{id=1, authorization=2, token=10{grant_type=1}}
# --------------------------------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def token_frame(server, request_id: int) -> bytes:
    basic = "Basic " + base64.b64encode(f"{server.admin_id}:{server.admin_secret}".encode()).decode()
    body = (varint(1 << 3) + varint(request_id) + field(2, basic.encode())
            + field(10, field(1, b"client_credentials")))
    return struct.pack(">I", len(body)) + body


def read_frames(sock: socket.socket, count: int, timeout: float = 10.0) -> list[bytes]:
    sock.settimeout(timeout)
    data = b""
    frames = []
    while len(frames) < count:
        while len(data) >= 4 and len(data) >= 4 + struct.unpack(">I", data[:4])[0]:
            length = struct.unpack(">I", data[:4])[0]
            frames.append(data[4:4 + length])
            data = data[4 + length:]
        if len(frames) >= count:
            break
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return frames


def status_code(frame: bytes) -> int:
    """Response.status (field 2).code (field 1); 0 (OK) when absent."""
    index = 0
    while index < len(frame):
        key, index = read_varint(frame, index)
        number, kind = key >> 3, key & 7
        if kind == 0:
            _, index = read_varint(frame, index)
        elif kind == 2:
            length, index = read_varint(frame, index)
            if number == 2:
                status = frame[index:index + length]
                if status[:1] == b"\x08":
                    return read_varint(status, 1)[0]
                return 0
            index += length
        else:
            raise AssertionError(f"unexpected wire type {kind}")
    return 0


def read_varint(data: bytes, index: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[index]
        index += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index
        shift += 7


def wire_address(server) -> tuple[str, int]:
    host, port = server.wire_address.rsplit(":", 1)
    return host, int(port)


def http_address(server) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def rss_mib(server) -> float:
    status = open(f"/proc/{server.proc.pid}/status").read()
    return int(re.search(r"RssAnon:\s+(\d+)", status).group(1)) / 1024


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes `sock` within `seconds` (reads until EOF or reset)."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


@pytest.fixture(scope="module")
def server():
    with launch("--request-deadline", f"{DEADLINE_SECONDS}s",
                "--max-connections-per-address", str(PER_ADDRESS)) as srv:
        yield srv


# --------------------------------------------------------------------------
# Back-pressure: pipelining without reading grows nothing but socket buffers
# --------------------------------------------------------------------------


def flood(server, address, one_request: bytes, total: int = 200_000, seconds: float = 20.0) -> int:
    """Sends up to `total` requests on one connection without reading an answer; returns how many went."""
    sock = socket.create_connection(address)
    sock.setblocking(False)
    batch = one_request * 500
    sent = 0
    view = memoryview(batch)
    offset = 0
    stop = time.monotonic() + seconds
    stalled_since = None
    while sent < total and time.monotonic() < stop:
        try:
            offset += sock.send(view[offset:])
            stalled_since = None
        except BlockingIOError:
            # The server stopped reading: the point of the test. Wait a little, in case it resumes.
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 1.0:
                break
            time.sleep(0.01)
            continue
        except (ConnectionResetError, BrokenPipeError):
            break
        if offset == len(batch):
            sent += 500
            offset = 0
    return sock, sent


@pytest.mark.parametrize("door", ["wire", "http"])
def test_pipelining_without_reading_keeps_memory_bounded(server, door):
    if door == "wire":
        address, one = wire_address(server), token_frame(server, 1)
    else:
        address = http_address(server)
        basic = base64.b64encode(f"{server.admin_id}:{server.admin_secret}".encode()).decode()
        body = "grant_type=client_credentials"
        one = (f"POST /oauth/token HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic}\r\n"
               f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()
    before = rss_mib(server)
    sock, sent = flood(server, address, one)
    try:
        assert sent > 0
        grown = rss_mib(server) - before
        assert grown < 64, f"RssAnon grew {grown:.0f} MiB after {sent} unread {door} requests"
        # Another client is served meanwhile.
        if door == "wire":
            other = socket.create_connection(address)
            other.sendall(token_frame(server, 7))
            [answer] = read_frames(other, 1)
            assert status_code(answer) == 0
            other.close()
        else:
            resp = requests.post(server.url("/oauth/token"), data={"grant_type": "client_credentials"},
                                 auth=(server.admin_id, server.admin_secret), timeout=HTTP_TIMEOUT)
            assert resp.status_code == 200, resp.text
    finally:
        sock.close()


# --------------------------------------------------------------------------
# Slowloris: a started request must finish within the deadline
# --------------------------------------------------------------------------


@pytest.mark.parametrize("door", ["wire", "http"])
def test_half_a_request_is_cut_off_at_the_deadline(server, door):
    address = wire_address(server) if door == "wire" else http_address(server)
    partial = struct.pack(">I", 64) + b"ab" if door == "wire" else b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n"
    sock = socket.create_connection(address)
    started = time.monotonic()
    sock.sendall(partial)
    # Trickle a byte every half second: the idle timeout would never fire, the deadline does.
    sock.settimeout(0.5)
    closed = False
    while time.monotonic() - started < DEADLINE_SECONDS + 3:
        try:
            sock.sendall(b"x")
            if sock.recv(4096) == b"":
                closed = True
                break
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            break
    elapsed = time.monotonic() - started
    sock.close()
    assert closed, f"a {door} connection trickling half a request was still open after {elapsed:.1f}s"
    assert elapsed >= DEADLINE_SECONDS - 0.5, f"closed after {elapsed:.1f}s, before the deadline"


def test_a_complete_request_is_not_cut_off(server):
    """The deadline is for unfinished requests only: a quiet, idle connection stays open."""
    sock = socket.create_connection(wire_address(server))
    sock.sendall(token_frame(server, 1))
    [answer] = read_frames(sock, 1)
    assert status_code(answer) == 0
    assert not closed_within(sock, DEADLINE_SECONDS + 1.5)
    sock.sendall(token_frame(server, 2))
    assert status_code(read_frames(sock, 1)[0]) == 0
    sock.close()


# --------------------------------------------------------------------------
# Half-close: every answer still arrives
# --------------------------------------------------------------------------


def test_wire_client_that_half_closes_gets_every_answer(server):
    sock = socket.create_connection(wire_address(server))
    sock.sendall(b"".join(token_frame(server, i) for i in range(1, 4)))
    sock.shutdown(socket.SHUT_WR)
    frames = read_frames(sock, 4)
    assert len(frames) == 3, f"got {len(frames)} answers to 3 requests after a half-close"
    assert all(status_code(frame) == 0 for frame in frames)
    assert sock.recv(1) == b"", "the server should close once the answers are written"
    sock.close()


# --------------------------------------------------------------------------
# Connection caps
# --------------------------------------------------------------------------


@pytest.mark.parametrize("door", ["wire", "http"])
def test_connections_from_one_address_are_capped(server, door):
    address = wire_address(server) if door == "wire" else http_address(server)
    held = [socket.create_connection(address) for _ in range(PER_ADDRESS)]
    try:
        time.sleep(0.2)
        extra = socket.create_connection(address)
        if door == "wire":
            [refusal] = read_frames(extra, 1)
            assert status_code(refusal) == 8  # RESOURCE_EXHAUSTED
            assert b"too_many_connections" in refusal
        else:
            extra.settimeout(5)
            head = extra.recv(4096)
            assert head.startswith(b"HTTP/1.1 503 "), head
            assert b"Retry-After: 1" in head
        assert closed_within(extra, 5)
        extra.close()
    finally:
        for sock in held:
            sock.close()
    # Closed connections are counted out: a new one is served.
    time.sleep(0.3)
    if door == "wire":
        sock = socket.create_connection(address)
        sock.sendall(token_frame(server, 1))
        assert status_code(read_frames(sock, 1)[0]) == 0
        sock.close()
    else:
        assert requests.get(server.url("/healthz"), timeout=HTTP_TIMEOUT).status_code == 200


# --------------------------------------------------------------------------
# Requests NIO's parser refuses are the client's fault
# --------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    b"POST /oauth/introspect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n\r\n5\r\ntoken=x\r\n0\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad\x01Header: y\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
    b"GARBAGE\r\n\r\n",
])
def test_requests_the_parser_refuses_are_400(server, raw):
    sock = socket.create_connection(http_address(server))
    sock.sendall(raw)
    sock.settimeout(5)
    head = sock.recv(4096)
    sock.close()
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert requests.get(server.url("/healthz"), timeout=HTTP_TIMEOUT).status_code == 200
