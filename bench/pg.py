"""The local PostgreSQL the cluster benchmarks share: is it there, and a schema of their own.

Cluster nodes (``--store postgresql://...``) keep their tables in the schema named by the
URL's ``search_path``; each benchmark run gets a fresh one, dropped afterwards, so runs and
the test suite (which does the same) never see each other's nodes or leases.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def missing() -> str | None:
    """Why PostgreSQL cannot be used here, or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(PG_DSN, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        return f"PostgreSQL at {PG_DSN} not reachable: {' '.join(str(error).split())[:120]}"
    return None


@contextmanager
def fresh_schema(prefix: str, application: str) -> Iterator[str]:
    """Yield a store URL whose tables live in a new schema; drop the schema on exit."""
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_DSN}?application_name={application}&options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
