"""Database access: the embedded server, the connection pool and the migration runner.

Only ``store`` modules (and this package) talk to asyncpg.
"""

from burgerwacht.db.pool import create_pool, resolve_database_url

__all__ = ["create_pool", "resolve_database_url"]
