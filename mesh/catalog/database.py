"""Where the catalog lives: a SQLite file (the default, no extra service) or PostgreSQL, shared
by every gateway process, which hear of each other's changes through LISTEN/NOTIFY.

Both take the same SQL, written with ``?`` placeholders.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

import psycopg

__all__ = ["CHANNEL", "Database", "Postgres", "Sqlite"]

CHANNEL = "mesh_catalog"  # the NOTIFY channel of catalog changes that affect what is served
log = logging.getLogger("mesh.catalog")


class Session(Protocol):
    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...


class Database(Protocol):
    conflict: tuple[type[Exception], ...]
    schema_lock: str | None  # SQL that serialises creating the tables, where processes race

    def session(self) -> Any:
        """A context manager yielding a ``Session``, committed on a clean exit."""
        ...

    def notify(self) -> None:
        """Tell every gateway sharing this database that what is served changed."""
        ...


class Sqlite:
    conflict: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
    schema_lock: str | None = None

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path

    @contextmanager
    def session(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=5)) as db, db:
            yield db

    def notify(self) -> None:
        """One process per SQLite file: nobody else to tell."""


class _PostgresSession:
    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._cursor = connection.cursor()

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(sql.replace("?", "%s"), args)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(sql.replace("?", "%s"), rows)


class Postgres:
    conflict: tuple[type[Exception], ...] = (psycopg.errors.UniqueViolation,)
    # two gateways starting on a fresh database would race on CREATE TABLE IF NOT EXISTS
    schema_lock: str | None = "SELECT pg_advisory_xact_lock(7274001)"

    def __init__(self, url: str) -> None:
        self.url = url

    @contextmanager
    def session(self) -> Iterator[_PostgresSession]:
        with psycopg.connect(self.url, connect_timeout=5) as connection:
            yield _PostgresSession(connection)

    def notify(self) -> None:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f"NOTIFY {CHANNEL}")

    async def watch(self, changed: Callable[[], object]) -> None:
        """Call ``changed`` at each NOTIFY; reconnect after a lost connection. Runs until
        cancelled."""
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                async with connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    async for _ in connection.notifies():
                        with suppress(Exception):
                            changed()
            except psycopg.Error as exc:
                log.warning("catalog: lost the PostgreSQL notifications, reconnecting: %s", exc)
                await asyncio.sleep(1)
