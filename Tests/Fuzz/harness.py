"""The server under test and the oracle.

`Server` starts a real `authsec serve` on loopback with port 0, reads its ports and the admin
credentials from stdout, seeds the clients the generators need (through the CLI, as an admin
would), and answers the oracle's questions: is the process alive, does /healthz answer 200 in
time, how much anonymous memory does it hold.

A `Failure` is one broken invariant, with a `kind` used to deduplicate reports.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

import wireproto

STARTUP_TIMEOUT = 30.0
CUSTOM_SCOPE = "fuzz:custom"
OTHER_SCOPE = "fuzz:other"
PK_KID = "fuzz-pk-key-1"


class Failure(Exception):
    """A broken invariant. `kind` groups failures with one cause; `detail` explains this one."""

    def __init__(self, kind: str, detail: str = "", fatal: bool = False):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        # fatal: the server is dead, hung or bloated and must be restarted.
        self.fatal = fatal


class HarnessError(Exception):
    """The harness itself could not do its job (the binary is missing, seeding failed, ...)."""


def signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def normalize(text: str, limit: int = 80) -> str:
    """A message reduced to its shape, for deduplication: quoted names, numbers and ids masked,
    cut short."""
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r"[A-Za-z0-9_-]{20,}", "<id>", text)
    text = re.sub(r"\d+", "N", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit]


def wait_for_binary(path: str, seconds: float = 120.0) -> None:
    """A build running alongside may be relinking the binary: wait for it to come back."""
    deadline = time.monotonic() + seconds
    while not os.access(path, os.X_OK):
        if time.monotonic() > deadline:
            raise HarnessError(f"authsec binary not found or not executable: {path} (set AUTHSEC_BIN)")
        time.sleep(1.0)


def snapshot_binary(path: str, into: Path, seconds: float = 180.0) -> str:
    """A private copy of the binary, so that a build relinking it while the fuzzer runs neither
    breaks a run half-way (ETXTBSY, a missing file) nor mixes two versions in one run. The copy
    is taken once the file has stopped changing and answers `--help`."""
    deadline = time.monotonic() + seconds
    last_problem = ""
    while time.monotonic() < deadline:
        wait_for_binary(path, max(1.0, deadline - time.monotonic()))
        try:
            before = os.stat(path)
            time.sleep(1.0)
            after = os.stat(path)
            if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
                last_problem = "the binary is still changing"
                continue
            copy = into / "authsec"
            shutil.copy2(path, copy)
            probe = subprocess.run([str(copy), "--help"], capture_output=True, timeout=60,
                                   stdin=subprocess.DEVNULL)
            if probe.returncode == 0 and os.stat(path).st_mtime_ns == after.st_mtime_ns:
                return str(copy)
            last_problem = f"`authsec --help` exited {probe.returncode}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            last_problem = str(exc)
        time.sleep(2.0)
    raise HarnessError(f"could not take a stable copy of {path}: {last_problem}")


def child_env() -> dict:
    env = dict(os.environ)
    # Swift's backtracer keeps a crashed process alive for seconds while it symbolicates, which
    # the oracle would take for a hang; the fatal-error line is printed either way.
    if os.environ.get("FUZZ_BACKTRACE", "") not in ("1", "yes"):
        env["SWIFT_BACKTRACE"] = "enable=no"
    return env


@dataclass
class Server:
    binary: str
    max_rss_mib: int = 150
    proc: subprocess.Popen | None = None
    workdir: Path | None = None
    http_port: int = 0
    wire_port: int = 0
    issuer: str = ""
    admin_id: str = ""
    admin_secret: str = ""
    stdout_tail: deque = field(default_factory=lambda: deque(maxlen=200))
    # Values the generators substitute for placeholders (see values.Placeholders).
    vars: dict = field(default_factory=dict)
    pk_private_key: ec.EllipticCurvePrivateKey | None = None
    # Client ids the fuzzer created itself: the only ones it may delete, update or rotate.
    created_clients: list = field(default_factory=list)
    created_scopes: list = field(default_factory=list)
    created_users: list = field(default_factory=list)
    starts: int = 0
    startup_lines: int = 0  # stdout lines up to the listening lines (they hold the admin secret)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        wait_for_binary(self.binary)
        self.workdir = Path(tempfile.mkdtemp(prefix="authsec-fuzz-"))
        self.stdout_tail.clear()
        self.created_clients.clear()
        self.created_scopes.clear()
        self.created_users.clear()
        stderr = open(self.workdir / "stderr.log", "wb")
        for attempt in range(3):
            try:
                self.proc = subprocess.Popen(
                    [self.binary, "serve", "--data", str(self.workdir / "data"),
                     "--http", "127.0.0.1:0", "--wire", "127.0.0.1:0", "--open-registration"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                    text=True, bufsize=1, env=child_env(),
                )
                break
            except OSError:  # ETXTBSY or ENOENT while the binary is being relinked
                if attempt == 2:
                    raise
                time.sleep(2.0)
                wait_for_binary(self.binary)
        stderr.close()
        self.starts += 1
        lines: "queue.Queue[str | None]" = queue.Queue()

        def reader(stream, sink, tail):
            for line in iter(stream.readline, ""):
                tail.append(line.rstrip("\n"))
                sink.put(line)
            sink.put(None)

        threading.Thread(target=reader, args=(self.proc.stdout, lines, self.stdout_tail), daemon=True).start()
        found: dict = {}
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not {"admin_id", "admin_secret", "http", "issuer", "wire"} <= found.keys():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise HarnessError("timed out waiting for the server's startup lines:\n" + self.last_logs())
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait()
                raise HarnessError(f"server exited early with code {code}:\n" + self.last_logs())
            if m := re.match(r"\s*client_id:\s+(\S+)", line):
                found["admin_id"] = m.group(1)
            elif m := re.match(r"\s*client_secret:\s+(\S+)", line):
                found["admin_secret"] = m.group(1)
            elif m := re.match(r"http listening on (\S+) \(issuer (\S+)\)", line):
                found["http"], found["issuer"] = m.group(1), m.group(2)
            elif m := re.match(r"wire listening on (\S+)", line):
                found["wire"] = m.group(1)
        self.startup_lines = len(self.stdout_tail)
        self.admin_id, self.admin_secret = found["admin_id"], found["admin_secret"]
        self.issuer = found["issuer"].rstrip("/")
        self.http_port = int(found["http"].rstrip("/").rsplit(":", 1)[1])
        self.wire_port = int(found["wire"].rsplit(":", 1)[1])
        self.seed()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def restart(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stop()
        self.start()

    # ------------------------------------------------------------------ seeding

    def cli(self, *args: str, timeout: float = 60.0, input_file: str | None = None) -> subprocess.CompletedProcess:
        env = child_env()
        env.update(
            AUTHSEC_ADDRESS=f"127.0.0.1:{self.wire_port}",
            AUTHSEC_CLIENT_ID=self.admin_id,
            AUTHSEC_CLIENT_SECRET=self.admin_secret,
        )
        wait_for_binary(self.binary)
        return subprocess.run([self.binary, *args], env=env, capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def cli_json(self, *args: str) -> dict:
        result = self.cli(*args)
        if result.returncode != 0:
            raise HarnessError(
                f"seeding: authsec {' '.join(args)} exited {result.returncode}\n"
                f"stdout: {result.stdout.decode(errors='replace')}\nstderr: {result.stderr.decode(errors='replace')}")
        return json.loads(result.stdout)

    def seed(self) -> None:
        """Scopes, a secret client, a private_key_jwt client and an admin token, as the generators need."""
        assert self.workdir is not None
        self.cli_json("scopes", "create", CUSTOM_SCOPE, "--description", "fuzz custom scope", "--json")
        self.cli_json("scopes", "create", OTHER_SCOPE, "--description", "another fuzz scope", "--json")
        secret = self.cli_json(
            "clients", "create", "--name", "fuzz secret client", "--type", "ai_agent",
            "--grant", "client_credentials", "--scope", CUSTOM_SCOPE, "--scope", "openid",
            "--audience", "https://api.fuzz.example", "--auth-method", "client_secret_basic", "--json")
        self.pk_private_key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(ECAlgorithm.to_jwk(self.pk_private_key.public_key()))
        jwk.update(kid=PK_KID, use="sig", alg="ES256")
        jwks_path = self.workdir / "pk-jwks.json"
        jwks_path.write_text(json.dumps({"keys": [jwk]}))
        pk = self.cli_json(
            "clients", "create", "--name", "fuzz private_key_jwt client", "--type", "ai_agent",
            "--grant", "client_credentials", "--scope", CUSTOM_SCOPE, "--auth-method", "private_key_jwt",
            "--jwks-file", str(jwks_path), "--json")
        password_path = self.workdir / "user-password"
        password_path.write_text("fuzz password\n")
        user = self.cli_json("users", "create", "fuzz-user", "--name", "Fuzz User", "--email", "fuzz@fuzz.example",
                             "--password-file", str(password_path), "--json")
        admin_token = self.wire_token(self.admin_id, self.admin_secret)
        client_token = self.wire_token(secret["client_id"], secret["client_secret"])
        cid, csecret = secret["client_id"], secret["client_secret"]
        self.vars = {
            "CLIENT_ID": cid,
            "CLIENT_SECRET": csecret,
            "BASIC": "Basic " + base64.b64encode(f"{cid}:{csecret}".encode()).decode(),
            "ACCESS_TOKEN": client_token,
            "ADMIN_ID": self.admin_id,
            "ADMIN_SECRET": self.admin_secret,
            "ADMIN_BASIC": "Basic " + base64.b64encode(f"{self.admin_id}:{self.admin_secret}".encode()).decode(),
            "ADMIN_BEARER": "Bearer " + admin_token,
            "PK_CLIENT_ID": pk["client_id"],
            "USER_SUB": user["sub"],
            "PK_KID": PK_KID,
            "ISSUER": self.issuer,
            "TOKEN_ENDPOINT": self.issuer + "/oauth/token",
            "HOST": f"127.0.0.1:{self.http_port}",
        }

    def wire_token(self, client_id: str, secret: str) -> str:
        req = wireproto.pb().Request(id=1)
        req.token.grant_type = "client_credentials"
        req.token.client_id = client_id
        req.token.client_secret = secret
        responses = wireproto.exchange(self.wire_port, wireproto.frame(req.SerializeToString()), expected=1,
                                       deadline=10.0)
        if not responses or responses[0].status.code != 0:
            raise HarnessError(f"seeding: could not get a token for {client_id}: {responses}")
        return responses[0].token.access_token

    # ------------------------------------------------------------------ oracle

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self, what: str, grace: float = 0.0) -> None:
        """Raises the crash failure if the server has exited (waiting up to `grace` seconds for a
        process that is already dying: its port refuses connections before it can be reaped)."""
        if self.alive() and grace > 0:
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if self.alive():
            return
        # Let the stderr writer finish, so the fatal message is in the log.
        time.sleep(0.05)
        code = self.proc.returncode if self.proc else None
        fatal = self.fatal_message()
        how = signal_name(code) if code is not None and code < 0 else f"exit {code}"
        kind = f"server-crash {how}: {normalize(fatal, 90) if fatal else 'no fatal-error line'} [{what}]"
        raise Failure(kind, f"the server died ({how}) after {what}", fatal=True)

    def check_health(self, what: str, timeout: float = 2.0) -> None:
        """GET /healthz must answer 200 within `timeout` seconds."""
        start = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", self.http_port), timeout=timeout) as sock:
                sock.settimeout(timeout)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                data = b""
                while b"\r\n" not in data:
                    left = timeout - (time.monotonic() - start)
                    if left <= 0:
                        raise socket.timeout()
                    sock.settimeout(left)
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        except (socket.timeout, TimeoutError):
            self.check_alive(what, grace=0.5)
            raise Failure("server-hang: /healthz gave no answer in 2 s",
                          f"/healthz did not answer within {timeout} s", fatal=True)
        except OSError as exc:
            self.check_alive(what, grace=2.0)
            raise Failure("server-unhealthy: /healthz connection failed", str(exc), fatal=True)
        status = data.split(b"\r\n", 1)[0]
        if not status.startswith(b"HTTP/1.1 200"):
            raise Failure(f"server-unhealthy: /healthz answered {status[:40]!r}", data[:300].decode(errors="replace"),
                          fatal=True)

    def rss_anon_mib(self) -> float:
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return 0.0

    def check_memory(self) -> None:
        rss = self.rss_anon_mib()
        if rss > self.max_rss_mib:
            raise Failure(f"server-memory: RssAnon over {self.max_rss_mib} MiB",
                          f"RssAnon is {rss:.1f} MiB (limit {self.max_rss_mib} MiB, FUZZ_MAX_RSS_MIB)", fatal=True)

    def check(self, what: str) -> None:
        """The whole process-level oracle, run after each input."""
        self.check_alive(what)
        self.check_health(what)
        self.check_memory()

    # ------------------------------------------------------------------ logs

    def stderr_lines(self) -> list:
        if self.workdir is None:
            return []
        try:
            return (self.workdir / "stderr.log").read_text(errors="replace").splitlines()
        except OSError:
            return []

    def fatal_message(self) -> str:
        for line in reversed(self.stderr_lines()):
            if m := re.search(r"Fatal error: (.*)", line):
                return m.group(1)
        return ""

    def last_logs(self, n: int = 15) -> str:
        later = list(self.stdout_tail)[self.startup_lines:]
        out = [f"  stdout| {line[:300]}" for line in later[-5:]]
        out += [f"  stderr| {line[:300]}" for line in self.stderr_lines()[-n:]]
        return "\n".join(out) if out else "  (no log lines)"
