"""Authsec fuzz suite: attacks both doors (HTTP and wire) and the CLI's client files from outside.

Run it with `bash Tests/Fuzz/run.sh` (or `make fuzz`); see Tests/Fuzz/README.md. In short:

  FUZZ_ITERATIONS=N   generated inputs to run (default 1000, sized for `make test`)
  FUZZ_SECONDS=S      run for S seconds instead (make fuzz: 600)
  FUZZ_SEED=N         the seed (default: random, printed)
  FUZZ_MAX_RSS_MIB=M  the server's RssAnon limit (default 150)
  AUTHSEC_BIN         the binary (default .build/debug/authsec)

  fuzz.py --replay FILE...   runs only the given corpus or findings files
  fuzz.py --only TYPE...     only these generators: wire wire-mutated http http-mutated assertion client

It starts `authsec serve` on loopback, replays Tests/Fuzz/corpus/, then runs the seeded
generators. After each input the oracle checks the response (no 5xx but 503/507, no wire
INTERNAL, an answer to every complete request) and the process (alive, /healthz 200 within 2 s,
RssAnon under the limit). A failure is reported once per kind, with the input and the server's
last log lines; a new kind's input is written to Tests/Fuzz/findings/. A dead, hung or bloated
server is restarted and fuzzing goes on. The last line is `N passed, N failed`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import corpus
import execute
import gen_assertion
import gen_clientfile
import gen_http
import gen_wire
import wireproto
from corpus import Input
from harness import Failure, HarnessError, Server, snapshot_binary

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFAULT_ITERATIONS = 1000
# Even a bounded count stops after this long (a slow machine, a server that crashes at every
# input), so that `make test` stays under 90 s; FUZZ_TIME_CAP changes it.
ITERATIONS_TIME_CAP = 85.0
MAX_ITERATIONS_TIMED = 1_000_000

GENERATORS = {
    "wire": (20, lambda rng, s: gen_wire.generate(rng, s, mutated=False)),
    "wire-mutated": (20, lambda rng, s: gen_wire.generate(rng, s, mutated=True)),
    "http": (12, lambda rng, s: gen_http.generate(rng, s, mutated=False)),
    "http-mutated": (25, lambda rng, s: gen_http.generate(rng, s, mutated=True)),
    "assertion": (16, lambda rng, s: gen_assertion.generate(rng, s)),
    "client": (7, lambda rng, s: gen_clientfile.generate(rng, s)),
}


@dataclass
class Kind:
    kind: str
    count: int = 0
    first_origin: str = ""
    finding: Path | None = None
    first_path: Path | None = None  # the corpus or findings file of the first input, if any


@dataclass
class Run:
    seed: int
    server: Server
    findings_dir: Path
    passed: int = 0
    failed: int = 0
    kinds: dict = field(default_factory=dict)
    restarts: int = 0
    by_type: dict = field(default_factory=dict)
    replaying: bool = False  # --replay: the inputs are files already

    def restart(self) -> None:
        for attempt in range(3):
            try:
                self.server.restart()
                self.restarts += 1
                return
            except HarnessError as exc:
                print(f"  (restart {attempt + 1} failed: {exc})", flush=True)
                time.sleep(2.0)
        raise HarnessError("the server could not be restarted three times in a row")

    def attempt(self, inp: Input) -> Failure | None:
        """Runs `inp` and the whole oracle: the failure, or None."""
        failure = None
        try:
            execute.run(self.server, inp)
        except Failure as exc:
            failure = exc
        except (OSError, ValueError) as exc:  # the harness's own trouble with a strange input
            failure = Failure(f"harness-error {type(exc).__name__}", "".join(traceback.format_exception(exc))[-800:])
        try:
            self.server.check(f"{inp.type} input")
        except Failure as exc:
            if failure is not None:
                exc.detail += f"\n    (the input's own check had said: {failure})"
            failure = exc
        return failure

    def one(self, inp: Input, verbose: bool = False) -> bool:
        """Runs one input through the oracle; True when it passed."""
        stats = self.by_type.setdefault(inp.type, [0, 0])
        failure = self.attempt(inp)
        if failure is None:
            self.passed += 1
            stats[0] += 1
            if verbose:
                print(f"PASS {inp.origin}: {inp.description}", flush=True)
            return True
        self.failed += 1
        stats[1] += 1
        new = self.report(inp, failure)
        if failure.fatal or not self.server.alive():
            self.restart()
        if new and inp.path is None:
            small = self.minimize(inp, failure.kind)
            k = self.kinds[failure.kind]
            k.finding = corpus.write_finding(self.findings_dir, small or inp, failure.kind, self.seed)
            note = f" (reduced to one {'frame' if inp.type == 'wire' else 'request'})" if small else ""
            print(f"  saved: {show(k.finding)}{note}", flush=True)
        return False

    def minimize(self, inp: Input, kind: str) -> Input | None:
        """One frame or request of a batch that fails the same way alone, if there is one; it
        makes the finding a smaller reproduction. Costs a few runs, once per new kind."""
        candidates = corpus.single_parts(inp)
        for cand in candidates[:8]:
            cand.origin = inp.origin + " (reduced)"
            failure = self.attempt(cand)
            if failure is not None and (failure.fatal or not self.server.alive()):
                self.restart()
            if failure is not None and failure.kind == kind:
                return cand
        return None

    def report(self, inp: Input, failure: Failure) -> bool:
        """Prints a failure (in full the first time its kind is seen); True for a new kind."""
        k = self.kinds.get(failure.kind)
        new = k is None
        if new:
            k = self.kinds[failure.kind] = Kind(failure.kind, first_origin=inp.origin, first_path=inp.path)
        k.count += 1
        if not new:
            print(f"FAIL (again, x{k.count}) {failure.kind}  <- {inp.origin}", flush=True)
            return False
        print("=" * 100, flush=True)
        print(f"FAIL {failure.kind}", flush=True)
        print(f"  what: {failure.detail}", flush=True)
        print(f"  input: {inp.summary()}", flush=True)
        print("  server's last log lines:", flush=True)
        print(self.server.last_logs(), flush=True)
        print("=" * 100, flush=True)
        return True

    def summary(self, elapsed: float, generated: int, replayed: int, stopped_early: str = "") -> None:
        print("", flush=True)
        print(f"fuzz summary: seed {self.seed}, {replayed} corpus inputs + {generated} generated in {elapsed:.1f} s, "
              f"{self.restarts} server restarts" + (f" ({stopped_early})" if stopped_early else ""))
        for t, (p, f) in sorted(self.by_type.items()):
            print(f"  {t:<10} {p} passed, {f} failed")
        if self.kinds:
            print(f"distinct failures: {len(self.kinds)}")
            for k in sorted(self.kinds.values(), key=lambda k: k.kind):
                print(f"  [{k.count}x] {k.kind}")
                path = k.finding or k.first_path
                if path is not None:
                    print(f"        first: {k.first_origin}; reproduce: bash Tests/Fuzz/run.sh --replay {show(path)}")
                else:
                    print(f"        first: {k.first_origin}")
        print(f"{self.passed} passed, {self.failed} failed", flush=True)


def show(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def env_int(name: str, default: int | None) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def main() -> int:
    parser = argparse.ArgumentParser(description="Authsec fuzz suite")
    parser.add_argument("--replay", nargs="+", type=Path, help="run only these corpus or findings files")
    parser.add_argument("--only", nargs="+", choices=sorted(GENERATORS), help="run only these generators")
    parser.add_argument("--no-corpus", action="store_true", help="skip the corpus replay")
    args = parser.parse_args()

    binary = os.environ.get("AUTHSEC_BIN", ".build/debug/authsec")
    if not os.path.isabs(binary):
        binary = str(REPO_ROOT / binary)
    seed = env_int("FUZZ_SEED", None)
    if seed is None:
        seed = random.SystemRandom().randrange(1, 2**31)
    seconds = env_int("FUZZ_SECONDS", None)
    iterations = env_int("FUZZ_ITERATIONS", None)
    if seconds is None and iterations is None:
        iterations = DEFAULT_ITERATIONS
    if seconds is not None and iterations is None:
        iterations = MAX_ITERATIONS_TIMED
    time_cap = float(seconds) if seconds is not None else float(env_int("FUZZ_TIME_CAP", int(ITERATIONS_TIME_CAP)))
    max_rss = env_int("FUZZ_MAX_RSS_MIB", 150)
    corpus_dir = Path(os.environ.get("FUZZ_CORPUS", HERE / "corpus"))
    findings_dir = Path(os.environ.get("FUZZ_FINDINGS", HERE / "findings"))
    only = args.only or sorted(GENERATORS)

    wireproto.pb()  # generate the protobuf module before the clock starts
    print(f"fuzz: seed {seed} (FUZZ_SEED={seed} repeats this run), binary {binary}", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="authsec-fuzz-bin-"))
    try:
        binary_copy = snapshot_binary(binary, scratch)
    except HarnessError as exc:
        print(f"fuzz: harness error: {exc}", flush=True)
        return 2
    if args.replay:
        print(f"fuzz: replaying {len(args.replay)} file(s)", flush=True)
    elif seconds is not None:
        print(f"fuzz: {seconds} s of generated inputs (generators: {' '.join(only)})", flush=True)
    else:
        print(f"fuzz: {iterations} generated inputs (generators: {' '.join(only)})", flush=True)

    server = Server(binary=binary_copy, max_rss_mib=max_rss)
    run = Run(seed=seed, server=server, findings_dir=findings_dir)
    start = time.monotonic()
    generated = replayed = 0
    stopped_early = ""
    try:
        server.start()
        print(f"fuzz: server pid {server.pid}, http 127.0.0.1:{server.http_port}, wire 127.0.0.1:{server.wire_port}, "
              f"RssAnon {server.rss_anon_mib():.1f} MiB", flush=True)
        if args.replay:
            run.replaying = execute.VERBOSE = True
            inputs = []
            for path in args.replay:
                inputs.append(corpus.parse(path))
            for inp in inputs:
                run.one(inp, verbose=True)
                replayed += 1
            run.summary(time.monotonic() - start, 0, replayed)
            return 1 if run.failed else 0
        if not args.no_corpus:
            for inp in corpus.load_dir(corpus_dir):
                run.one(inp, verbose=True)
                replayed += 1
            print(f"fuzz: corpus replayed ({replayed} inputs, {run.failed} failed); now the generators", flush=True)
        weights = [GENERATORS[name][0] for name in only]
        last_progress = time.monotonic()
        for i in range(iterations):
            if time.monotonic() - start > time_cap:
                if seconds is None:
                    stopped_early = f"stopped at the {time_cap:.0f} s cap (FUZZ_TIME_CAP) after {i} of {iterations}"
                break
            rng = random.Random(f"{seed}:{i}")
            name = rng.choices(only, weights)[0]
            inp = GENERATORS[name][1](rng, server)
            inp.origin = f"seed {seed} #{i} ({name})"
            run.one(inp)
            generated += 1
            if time.monotonic() - last_progress > 15:
                last_progress = time.monotonic()
                print(f"fuzz: {generated} generated, {run.passed} passed, {run.failed} failed, "
                      f"{len(run.kinds)} kinds, RssAnon {server.rss_anon_mib():.1f} MiB, "
                      f"{time.monotonic() - start:.0f} s", flush=True)
    except HarnessError as exc:
        print(f"fuzz: harness error: {exc}", flush=True)
        run.summary(time.monotonic() - start, generated, replayed, "harness error")
        return 2
    except KeyboardInterrupt:
        stopped_early = "interrupted"
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    run.summary(time.monotonic() - start, generated, replayed, stopped_early)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
