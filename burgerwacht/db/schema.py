"""The schema of a database as normalised text, read from the catalog: what
``burgerwacht/sql/schema.sql`` holds for a freshly migrated database.

Twelve migrations and the functions files say how the schema came about; this says what
it is, in one file a reviewer can read and a diff can show. A test migrates an empty
database and compares (tests/api/test_schema.py), so a migration that changes the schema
changes schema.sql in the same commit. Regenerate it with::

    burgerwacht schema-dump --fresh --output burgerwacht/sql/schema.sql   # or: make schema

The text comes from the catalog (``pg_get_*def``, ``format_type``), not from pg_dump:
the project depends on no PostgreSQL client binaries. Everything in the ``public``
schema: tables with their columns (in column order, which ``SELECT *`` shows),
constraints, indexes, views, sequences not owned by a column, enum types, functions,
triggers and extensions, each group sorted by name. Storage details (owners, grants,
tablespaces, statistics) are left out, and so are partitions (a partitioned table shows
its key; its partitions, e.g. deliveries' month partitions made ahead by date, carry
the parent's constraints, indexes and row triggers).
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit, urlunsplit

import asyncpg

HEADER = """\
-- The schema of a freshly migrated burgerwacht database (normalised, sorted by name).
-- Generated from the catalog by `burgerwacht schema-dump --fresh`; do not edit by hand:
-- change a migration or a functions file, then regenerate (see burgerwacht/db/schema.py).
"""

_EXTENSIONS = "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1"

_ENUMS = """
SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
WHERE t.typnamespace = 'public'::regnamespace
GROUP BY t.typname ORDER BY 1
"""

_TABLES = """
SELECT c.oid, c.relname, c.relkind::text AS relkind,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partkey
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname
"""

_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.attidentity::text AS attidentity,
       a.attgenerated::text AS attgenerated,
       pg_get_expr(d.adbin, d.adrelid) AS expr,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END AS collation
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_CONSTRAINTS = """
SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid, true) AS def
FROM pg_constraint
WHERE connamespace = 'public'::regnamespace AND conrelid <> 0
  AND contype <> 'n'  -- NOT NULL (a constraint of its own since PostgreSQL 18): in the columns
  AND NOT EXISTS (SELECT 1 FROM pg_class r WHERE r.oid = conrelid AND r.relispartition)
ORDER BY 1, 2
"""

_INDEXES = """
SELECT i.relname, pg_get_indexdef(i.oid) AS def
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE i.relnamespace = 'public'::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_class r WHERE r.oid = x.indrelid AND r.relispartition)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid AND c.contype IN ('p', 'u', 'x'))
ORDER BY 1
"""

_VIEWS = """
SELECT c.relname, c.relkind::text AS relkind, pg_get_viewdef(c.oid, true) AS def FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')
ORDER BY 1
"""

_SEQUENCES = """
SELECT c.relname FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
ORDER BY 1
"""

_FUNCTIONS = """
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args, pg_get_functiondef(p.oid) AS def
FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""

_TRIGGERS = """
SELECT t.tgrelid::regclass::text AS tbl, t.tgname, pg_get_triggerdef(t.oid, true) AS def
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal AND NOT c.relispartition
ORDER BY 1, 2
"""


def _column(r: asyncpg.Record) -> str:
    parts = [r["attname"], r["type"]]
    if r["collation"]:
        parts.append(f'COLLATE "{r["collation"]}"')
    if r["attidentity"]:
        parts.append("GENERATED " + ("ALWAYS" if r["attidentity"] == "a" else "BY DEFAULT") + " AS IDENTITY")
    elif r["attgenerated"] == "s":
        parts.append(f"GENERATED ALWAYS AS ({r['expr']}) STORED")
    elif r["expr"] is not None:
        parts.append(f"DEFAULT {r['expr']}")
    if r["attnotnull"]:
        parts.append("NOT NULL")
    return " ".join(parts)


async def dump(conn: asyncpg.Connection) -> str:
    """The normalised schema of the database ``conn`` is connected to."""
    out = [HEADER]
    extensions = [r["extname"] for r in await conn.fetch(_EXTENSIONS)]
    if extensions:
        out.append("\n".join(f"CREATE EXTENSION {name};" for name in extensions) + "\n")
    for r in await conn.fetch(_ENUMS):
        labels = ", ".join("'" + label.replace("'", "''") + "'" for label in r["labels"])
        out.append(f"CREATE TYPE {r['typname']} AS ENUM ({labels});\n")
    for t in await conn.fetch(_TABLES):
        columns = [_column(c) for c in await conn.fetch(_COLUMNS, t["oid"])]
        body = ",\n".join(f"    {c}" for c in columns)
        by = f" PARTITION BY {t['partkey']}" if t["partkey"] else ""
        out.append(f"CREATE TABLE {t['relname']} (\n{body}\n){by};\n")
    constraints = await conn.fetch(_CONSTRAINTS)
    if constraints:
        out.append(
            "\n".join(
                f"ALTER TABLE {r['tbl']} ADD CONSTRAINT {r['conname']} {r['def']};" for r in constraints
            )
            + "\n"
        )
    indexes = await conn.fetch(_INDEXES)
    if indexes:
        out.append("\n".join(f"{r['def']};" for r in indexes) + "\n")
    for r in await conn.fetch(_VIEWS):
        kind = "MATERIALIZED VIEW" if r["relkind"] == "m" else "VIEW"
        out.append(f"CREATE {kind} {r['relname']} AS\n{r['def'].rstrip().rstrip(';')};\n")
    sequences = await conn.fetch(_SEQUENCES)
    if sequences:
        out.append("\n".join(f"CREATE SEQUENCE {r['relname']};" for r in sequences) + "\n")
    for r in await conn.fetch(_FUNCTIONS):
        out.append(r["def"].rstrip() + ";\n")
    triggers = await conn.fetch(_TRIGGERS)
    if triggers:
        out.append("\n".join(f"{r['def']};" for r in triggers) + "\n")
    return "\n".join(out)


async def dump_fresh(admin_url: str) -> str:
    """Create a scratch database on the server of ``admin_url``, migrate it, dump its
    schema and drop it again: the schema the code produces, whatever the configured
    database holds."""
    from burgerwacht.db import migrate

    name = f"burgerwacht_schema_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        try:
            conn = await asyncpg.connect(urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}")))
            try:
                await migrate.migrate(conn)
                return await dump(conn)
            finally:
                await conn.close()
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await admin.close()
