"""Crash consistency: SIGKILL ``civic apply`` and ``civic up`` at random points, then the
state converges.

A seeded drill (:class:`Drill`) changes the estate a little before each round, then starts
either ``civic apply`` or ``civic up`` (with two services deployed) and SIGKILLs it at a
random moment: while Python starts, while it plans, holding the apply lock mid-way through
its writes, while ``civic up`` boots, spawns replicas or rolls. HAProxy and the replicas a
killed ``civic up`` leaves keep running, as they would after a real crash. Afterwards:

- the next ``civic apply`` finishes (a lock a killed apply left is taken over), and no lock
  is left behind; a second one has nothing left to do;
- the store has no duplicate revision: no object's history records the same spec twice in a
  row, and the services deployed at every start have one revision each (an unchanged spec
  records nothing);
- a ``civic up`` after the kills serves every service;
- every replica recorded is running, and every running Civic replica is recorded: no orphan.
  Civic's replicas are known by the ``CIVIC_REPLICA_ID`` variable in their environment.

CI runs :data:`ROUNDS` rounds of each kind (``CIVIC_CRASH_ROUNDS``, seed ``CIVIC_CRASH_SEED``);
``benchmarks/crash_drill.py`` runs many more and prints what held.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest
import sqlalchemy as sa

from civic import deadlines

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELLO = os.path.join(ROOT, "examples", "services", "hello", "civic.service.yaml")
SITE = os.path.join(ROOT, "examples", "services", "static-site", "civic.service.yaml")
ENV = "opg-lpa-dev"
SERVICES = ("hello", "site")
MARKER = "CIVIC_REPLICA_ID"
"""The variable in every replica's environment that names it (another part of issue 12 adds it)."""
ROUNDS = int(os.environ.get("CIVIC_CRASH_ROUNDS", "8"))
SEED = int(os.environ.get("CIVIC_CRASH_SEED", "12"))


@dataclasses.dataclass
class Findings:
    """What the checks after the kills found; empty lists are what should hold."""

    rounds: list[str] = dataclasses.field(default_factory=list)  # "apply killed after 0.41 s", ...
    failed: list[str] = dataclasses.field(default_factory=list)  # rounds whose command failed (a lock it waited for)
    apply_code: int | None = None
    apply_error: str = ""
    took_over: bool = False  # the apply after the kills said it took over a lock
    takeovers: int = 0  # locks left by a killed command that a later one took over, in all
    locks_left: list[str] = dataclasses.field(default_factory=list)
    left_to_apply: bool = False  # a second apply still found changes
    duplicates: list[str] = dataclasses.field(default_factory=list)
    not_served: list[str] = dataclasses.field(default_factory=list)
    not_running: list[str] = dataclasses.field(default_factory=list)  # recorded, but not running
    orphans: list[str] = dataclasses.field(default_factory=list)  # running, but not recorded
    marked: bool = False  # any running replica carried the marker


class Drill:
    """One estate, one Civic on free ports, and the kills; ``close`` leaves nothing running."""

    def __init__(self, estate: str, tmp: str, *, seed: int) -> None:
        self.estate, self.tmp = estate, tmp
        self.rng = random.Random(seed)
        self.civic_dir = os.path.join(estate, ".civic")
        self.port, self.api_port, self.stats_port = (_free_port() for _ in range(3))
        self.env = dict(os.environ, CIVIC_CONFIG=os.path.join(tmp, "client.json"), COLUMNS="200")
        self.env.pop("CIVIC_TOKEN", None)
        self.log = os.path.join(tmp, "civic.log")
        self.changes = 0
        self.up_proc: subprocess.Popen | None = None
        self.span: dict[str, float] = {}  # kind -> seconds from start to done (up: to serving)
        self.lock_span: dict[str, float] = {}  # kind -> seconds it holds the apply lock
        self.engine = sa.create_engine(f"sqlite:///file:{os.path.join(self.civic_dir, 'state.db')}?mode=ro&uri=true")
        self.findings = Findings()

    # --- running civic --------------------------------------------------------------

    def civic(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "civic", *args], env=self.env, text=True, capture_output=True, timeout=timeout
        )

    def _start(self, *args: str) -> subprocess.Popen:
        with open(self.log, "ab") as log:
            log.write(f"\n=== civic {' '.join(args[:1])} (change {self.changes})\n".encode())
            log.flush()
            return subprocess.Popen(
                [sys.executable, "-m", "civic", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _start_apply(self) -> subprocess.Popen:
        return self._start("apply", "--estate", self.estate, "--lock-timeout", "10")

    def _start_up(self) -> subprocess.Popen:
        return self._start(
            "up",
            "--estate",
            self.estate,
            "--port",
            str(self.port),
            "--api-port",
            str(self.api_port),
            "--stats-port",
            str(self.stats_port),
            "--no-monitoring",
            "--sync-interval",
            "0.2",
            "--deploy",
            f"{ENV}={HELLO}",
            "--deploy",
            f"{ENV}={SITE}",
        )

    def output(self) -> str:
        with open(self.log, errors="replace") as f:
            return f.read()

    def change_estate(self) -> None:
        """Change every environment a little, so each apply has several objects to write."""
        self.changes += 1
        folder = os.path.join(self.estate, "environments")
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name, "environment.yaml")
            with open(path) as f:
                text = f.read()
            text = re.sub(r"^(  application: .*?)( \(change \d+\))?$", rf"\1 (change {self.changes})", text, flags=re.M)
            with open(path, "w") as f:
                f.write(text)

    # --- the rounds -----------------------------------------------------------------

    def calibrate(self) -> None:
        """How long an apply and a start of ``civic up`` take here, and how long each holds
        the apply lock: the spans kills fall in."""
        for kind in ("apply", "up"):
            self.change_estate()
            began = time.monotonic()
            proc = self._start_apply() if kind == "apply" else self._start_up()
            self.up_proc = proc if kind == "up" else None
            held = self.lock_span.get(kind, 0.05)
            if self._until_locked(proc):
                locked = time.monotonic()
                deadlines.poll(
                    lambda proc=proc: not self._locked_by(proc), timeout=120, interval=0.005, what="the lock freed"
                )
                held = time.monotonic() - locked
            if kind == "apply":
                assert proc.wait(120) == 0, self.output()
            else:
                self._until_up(proc)
                self._kill(proc)
            self.span[kind], self.lock_span[kind] = time.monotonic() - began, held
            self.findings.rounds.append(
                f"calibrated {kind}: {self.span[kind]:.2f} s, holding the lock {self.lock_span[kind]:.3f} s"
            )

    def run(self, rounds: int) -> None:
        """``rounds`` kills of each kind, half of them (by chance) while the command holds the lock."""
        kinds = ["apply"] * rounds + ["up"] * rounds
        self.rng.shuffle(kinds)
        for kind in kinds:
            self.change_estate()
            in_lock = self.rng.random() < 0.5
            proc = self._start_apply() if kind == "apply" else self._start_up()
            if in_lock and self._until_locked(proc):
                at, when = self.rng.uniform(0.0, self.lock_span[kind]), "into holding the lock"
            else:
                at, when = self.rng.uniform(0.0, self.span[kind] * 1.1), "after it started"
            try:
                code = proc.wait(at)  # the kill point; a command that ends sooner is not killed
                self.findings.rounds.append(f"{kind} ended by itself (exit {code})")
                if code != 0:
                    self.findings.failed.append(f"round {len(self.findings.rounds)}: {kind} exited {code}")
            except subprocess.TimeoutExpired:
                self._kill(proc)
                self.findings.rounds.append(f"{kind} killed {at:.3f} s {when}")

    def _until_locked(self, proc: subprocess.Popen) -> bool:
        """Wait until ``proc`` holds the apply lock (True) or has ended (False)."""

        def check() -> str | None:
            if proc.poll() is not None:
                return "ended"
            return "locked" if self._locked_by(proc) else None

        return deadlines.poll(check, timeout=120, interval=0.005, what="the lock to be taken") == "locked"

    def _locked_by(self, proc: subprocess.Popen) -> bool:
        try:
            return any(f" pid {proc.pid} " in f"{row.holder} " for row in self._rows("civic_locks"))
        except sa.exc.OperationalError:  # no store yet
            return False

    def _kill(self, proc: subprocess.Popen) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def _until_up(self, proc: subprocess.Popen) -> None:
        start = len(self.output())

        def up() -> bool:
            assert proc.poll() is None, f"civic up exited: {self.output()[start:]}"
            return "Ctrl-C" in self.output()[start:]

        deadlines.poll(up, timeout=120, interval=0.05, what="civic up to start")

    # --- after the kills --------------------------------------------------------------

    def check(self) -> Findings:
        found = self.findings
        applied = self.civic("apply", "--estate", self.estate, "--lock-timeout", "10")
        found.apply_code, found.apply_error = applied.returncode, applied.stderr.strip()
        found.took_over = "took over the apply lock" in applied.stderr
        found.takeovers = self.output().count("took over the apply lock") + found.took_over
        found.locks_left = [f"{r.name} held by {r.holder}" for r in self._rows("civic_locks")]
        again = self.civic("apply", "--estate", self.estate, "-o", "json")
        found.left_to_apply = again.returncode != 0 or json.loads(again.stdout)["appliedRevision"] is not None
        found.duplicates = self._duplicates()
        self.up_proc = self._start_up()
        self._until_up(self.up_proc)
        found.not_served = self._not_served()
        found.not_running, found.orphans, found.marked = self._replicas_converge()
        return found

    def _rows(self, table: str) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(f"SELECT * FROM {table}")))

    def _duplicates(self) -> list[str]:
        out = []
        last: dict[tuple[str, str], str | None] = {}
        for row in sorted(self._rows("civic_history"), key=lambda r: r.id):
            key = (row.kind, row.name)
            if key in last and last[key] == row.spec:
                out.append(f"{row.kind} {row.name}: revision {row.revision_id} records the same spec again")
            last[key] = row.spec
        by_service: dict[tuple[str, str], list] = {}
        for row in self._rows("civic_service_revisions"):
            by_service.setdefault((row.environment, row.service), []).append(row)
        for (env, service), rows in sorted(by_service.items()):
            specs = [r.spec for r in sorted(rows, key=lambda r: r.revision)]
            if len(specs) != len(set(specs)):
                out.append(f"{env}/{service}: {len(specs)} revisions of {len(set(specs))} specs")
        return out

    def _not_served(self) -> list[str]:
        missing = []
        for service in SERVICES:

            def answers(service: str = service) -> bool:
                try:
                    with httpx.Client(timeout=5) as client:
                        response = client.get(
                            f"http://127.0.0.1:{self.port}/",
                            headers={"Host": f"{service}.{ENV}.localhost:{self.port}"},
                        )
                    return response.status_code == 200
                except httpx.HTTPError:
                    return False

            try:
                deadlines.poll(answers, timeout=90, interval=0.2, what=f"{service} to answer")
            except deadlines.Timeout:
                missing.append(service)
        return missing

    def _replicas_converge(self) -> tuple[list[str], list[str], bool]:
        """Poll until recorded and running replicas agree; what still differs at the deadline."""
        state: tuple[list[str], list[str], bool] = ([], [], False)

        def agree() -> bool:
            nonlocal state
            state = self._replicas()
            return not state[0] and not state[1]

        try:
            deadlines.poll(agree, timeout=60, interval=0.25, what="recorded and running replicas to agree")
        except deadlines.Timeout:
            pass
        return state

    def _replicas(self) -> tuple[list[str], list[str], bool]:
        records = {r.id: r for r in self._rows("civic_replicas")}
        not_running = [f"{r.id} (pid {r.pid})" for r in records.values() if _ticks(r.pid) != r.start_time]
        marked = self._marked()
        orphans = sorted(f"{rid} (pid {pid})" for rid, pid in marked.items() if rid not in records)
        return not_running, orphans, bool(marked)

    def _marked(self) -> dict[str, int]:
        """Every running replica of this Civic by the marker in its environment: id -> a pid."""
        out = {}
        for process in psutil.process_iter():
            try:
                replica = process.environ().get(MARKER)
                if replica and self._belongs(process) and process.status() != psutil.STATUS_ZOMBIE:
                    out.setdefault(replica, process.pid)
            except psutil.Error:
                continue
        return out

    def _belongs(self, process: psutil.Process) -> bool:
        """A process of this drill's Civic: its output goes to a file under the estate's .civic folder."""
        for fd in (1, 2):
            try:
                if os.readlink(f"/proc/{process.pid}/fd/{fd}").startswith(self.civic_dir + os.sep):
                    return True
            except OSError:
                continue
        return False

    # --- clean-up ---------------------------------------------------------------------

    def close(self) -> None:
        """``civic down`` if one runs; then kill whatever of this Civic still runs, HAProxy too."""
        if self.up_proc is not None and self.up_proc.poll() is None:
            self.civic("down", timeout=90)
            try:
                self.up_proc.wait(60)
            except subprocess.TimeoutExpired:
                self._kill(self.up_proc)
        for process in psutil.process_iter():
            if process.pid != os.getpid() and self._belongs(process):
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    try:
                        process.kill()
                    except psutil.Error:
                        pass
        try:
            with open(os.path.join(self.civic_dir, "run", "haproxy.pid")) as f:
                pid, started = (int(x) for x in f.read().split())
            if _ticks(pid) == started:
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass
        try:
            for row in self._rows("civic_replicas"):
                if _ticks(row.pid) == row.start_time:
                    os.killpg(row.pid, signal.SIGKILL)
        except (sa.exc.SQLAlchemyError, OSError):
            pass
        self.engine.dispose()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ticks(pid: int) -> int | None:
    """A process's start time as the store records it (clock ticks since boot); None if gone."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return round((process.create_time() - psutil.boot_time()) * os.sysconf("SC_CLK_TCK"))
    except psutil.Error:
        return None


def test_killed_applies_and_ups_converge_with_no_lock_orphan_or_duplicate_left(estate_dir, tmp_path):
    drill = Drill(estate_dir, str(tmp_path), seed=SEED)
    try:
        drill.calibrate()
        drill.run(ROUNDS)
        found = drill.check()
    finally:
        drill.close()
    where = f"(seed {SEED}; rounds: {'; '.join(drill.findings.rounds)}; log: {drill.log})"
    assert found.failed == [], f"a command failed between the kills, see the log {where}"
    assert found.apply_code == 0, f"the apply after the kills failed: {found.apply_error} {where}"
    assert found.locks_left == [], where
    assert not found.left_to_apply, f"a second apply still found changes {where}"
    assert found.duplicates == [], where
    assert found.not_served == [], f"not served after the kills {where}"
    assert found.not_running == [], f"recorded but not running {where}"
    if not found.marked:
        pytest.fail(
            f"no running replica carries {MARKER} in its environment, so orphans cannot be told from "
            f"other processes: the marker (issue 12, item 13) is missing {where}"
        )
    assert found.orphans == [], f"running but not recorded {where}"
