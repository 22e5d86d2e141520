"""The files that ship inside the package: migrations, SQL functions, the schema, and the
default configuration (``default.toml``, ``messages.toml``, ``signals.toml``, demo data).

They are found with :mod:`importlib.resources`, never beside the source tree, so that an
installed wheel (``pip install burgerwacht-*.whl``, the Docker image) migrates and runs
wherever it is installed. Layout::

    burgerwacht/sql/migrations/NNNN_name.sql   forward-only, applied once each
    burgerwacht/sql/functions/*.sql            every function and trigger, re-applied by each migrate
    burgerwacht/sql/schema.sql                 what a fully migrated database looks like (a test checks)
    burgerwacht/defaults/*.toml, demo/         default configuration and the synthetic Demostad

(``defaults``, not ``config``: ``burgerwacht/config.py`` is a module.)
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGE: Traversable = files("burgerwacht")
MIGRATIONS: Traversable = PACKAGE / "sql" / "migrations"
FUNCTIONS: Traversable = PACKAGE / "sql" / "functions"
SCHEMA: Traversable = PACKAGE / "sql" / "schema.sql"
DEFAULTS: Traversable = PACKAGE / "defaults"


def as_path(resource: Traversable) -> Path:
    """A file-system path for APIs that need one (pydantic's TOML source, file
    imports). The package is installed as plain files (wheel, editable or source), where
    importlib.resources already answers with paths; a zip import is not supported."""
    if isinstance(resource, Path):
        return resource
    raise RuntimeError(f"burgerwacht must be installed as files, not imported from an archive ({resource})")
