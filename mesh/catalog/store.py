"""Registered documents and their versions, kept in SQLite (a file in the data directory).

A document is named by its AsyncAPI ``id``, else by the name given at registration, else by its
title; a version by ``info.version``. Each version keeps the text as registered and the
normalised form (the 3.x shape, 2.6 converted) and a lifecycle state. Versions are immutable:
registering the same name and version again is a conflict, whatever the text.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh.catalog.compat import Change, diff
from mesh.catalog.database import Database, Postgres, Sqlite
from mesh.config import CatalogConfig
from mesh.core.errors import BreakingChange, CatalogConflict, RouteNotFound
from mesh.specs.document import Document
from mesh.specs.loader import load_document
from mesh.specs.source import Workspace

__all__ = ["STATES", "Catalog", "Query", "Version", "load_text", "open_catalog", "terms"]

STATES = ("draft", "active", "deprecated", "retired")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    state TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    text TEXT NOT NULL,
    normalized TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS terms (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS terms_by_field ON terms (field, value);
CREATE INDEX IF NOT EXISTS terms_by_document ON terms (name, version);
CREATE TABLE IF NOT EXISTS live (name TEXT PRIMARY KEY, version TEXT NOT NULL)
"""
# free-text weight of each field: a title match ranks above a tag match
_WEIGHTS = {"title": 5, "channel": 3, "message": 3, "tag": 2, "owner": 2, "text": 1}


@dataclass(frozen=True)
class Version:
    name: str
    version: str
    kind: str
    title: str
    state: str
    created: float
    text: str
    normalized: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "title": self.title,
            "state": self.state,
            "created": self.created,
        }


class Catalog:
    """The catalog in ``path`` (created on first use); safe to reopen after a restart."""

    def __init__(self, database: Database | Path, live_dir: Path | None = None) -> None:
        """``database``: a ``Database``, or the path of a SQLite file; ``live_dir``: where the
        documents put live are written for the gateway to load (beside a SQLite file by
        default)."""
        if isinstance(database, Path):
            live_dir = live_dir or database.parent / "live"
            self.database: Database = Sqlite(database)
        else:
            self.database = database
        if live_dir is None:
            raise ValueError("a catalog in PostgreSQL needs a directory for its live documents")
        self.live_dir = live_dir
        with self._connect() as db:
            if self.database.schema_lock:
                db.execute(self.database.schema_lock)
            for statement in _SCHEMA.split(";"):
                db.execute(statement)

    def register(
        self,
        text: str,
        name: str | None = None,
        state: str = "draft",
        refuse_breaking: bool = False,
    ) -> tuple[Version, list[Change]]:
        """Validate ``text`` as ``mesh validate`` does and store it as a new version; return it
        with its changes against the newest version before it.

        Raises ``SpecError`` listing every problem, ``CatalogConflict`` for a version that exists,
        ``BreakingChange`` when ``refuse_breaking`` and a change breaks consumers.
        """
        if state not in STATES:
            raise ValueError(f"state is one of {', '.join(STATES)}")
        doc = load_text(text)
        found = Version(
            name=_name(doc, name),
            version=str(doc.data["info"]["version"]),
            kind=doc.kind.value,
            title=doc.title,
            state=state,
            created=time.time(),
            text=text,
            normalized=doc.data,
        )
        earlier = self._select("WHERE name = ? ORDER BY created DESC LIMIT 1", found.name)
        changes = diff(earlier[0].normalized, found.normalized) if earlier else []
        breaking = [c.as_json() for c in changes if c.breaking]
        if refuse_breaking and breaking:
            raise BreakingChange(
                f"{len(breaking)} change(s) against {earlier[0].version} break consumers",
                changes=breaking,
            )
        try:
            with self._connect() as db:
                db.execute(
                    "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        found.name,
                        found.version,
                        found.kind,
                        found.title,
                        found.state,
                        found.created,
                        found.text,
                        json.dumps(found.normalized),
                    ),
                )
                db.executemany(
                    "INSERT INTO terms VALUES (?, ?, ?, ?)",
                    [(found.name, found.version, f, v) for f, v in terms(doc.data)],
                )
        except self.database.conflict:
            raise CatalogConflict(
                f"{found.name} {found.version} is registered already; versions do not change",
                name=found.name,
                version=found.version,
            ) from None
        return found, changes

    def documents(self) -> list[dict[str, Any]]:
        """Each document with its versions' summaries, newest version last."""
        out: dict[str, dict[str, Any]] = {}
        for version in self._select("ORDER BY name, created"):
            entry = out.setdefault(version.name, {"name": version.name, "versions": []})
            entry["title"] = version.title
            entry["versions"].append(version.summary())
        return list(out.values())

    def versions(self, name: str) -> list[Version]:
        found = self._select("WHERE name = ? ORDER BY created", name)
        if not found:
            raise RouteNotFound(f"no document {name!r} in the catalog")
        return found

    def version(self, name: str, version: str) -> Version:
        found = self._select("WHERE name = ? AND version = ?", name, version)
        if not found:
            raise RouteNotFound(f"no version {version!r} of {name!r} in the catalog")
        return found[0]

    def search(self, query: Query) -> tuple[int, list[dict[str, Any]]]:
        """Documents whose newest version matches every filter of ``query``, ranked by how well
        the free text matches (title over channels and messages over tags and the rest), then
        by name; the total and one page."""
        where, args = ["v.created = (SELECT MAX(created) FROM versions WHERE name = v.name)"], []
        for field, value in query.filters():
            where.append(
                "EXISTS (SELECT 1 FROM terms t WHERE t.name = v.name AND t.version = v.version "
                "AND t.field = ? AND t.value LIKE ? ESCAPE '\\')"
            )
            args += [field, _like(value)]
        if query.state:
            where.append("v.state = ?")
            args.append(query.state)
        score, score_args = "0", []
        if query.text:
            cases = " + ".join(
                f"(CASE WHEN t.field = '{f}' THEN {w} ELSE 0 END)" for f, w in _WEIGHTS.items()
            )
            score = (
                f"(SELECT COALESCE(SUM({cases}), 0) FROM terms t WHERE t.name = v.name "
                "AND t.version = v.version AND t.value LIKE ? ESCAPE '\\')"
            )
            score_args = [f"%{_escape(query.text.lower())}%"]
            where.append(f"{score} > 0")
            args += score_args
        sql = (
            f"SELECT v.name, v.version, v.kind, v.title, v.state, v.created, {score} AS score "
            f"FROM versions v WHERE {' AND '.join(where)}"
        )
        with self._connect() as db:
            total = db.execute(
                f"SELECT COUNT(*) FROM ({sql}) AS found", [*score_args, *args]
            ).fetchone()[0]
            rows = db.execute(
                f"{sql} ORDER BY score DESC, v.name LIMIT ? OFFSET ?",
                [*score_args, *args, query.limit, query.offset],
            ).fetchall()
        keys = ("name", "version", "kind", "title", "state", "created", "score")
        return int(total), [dict(zip(keys, row, strict=True)) for row in rows]

    def lineage(self, address: str) -> dict[str, list[dict[str, str]]]:
        """Which documents (newest versions) produce and which consume ``address`` (``*``
        matches any run of characters)."""
        out: dict[str, list[dict[str, str]]] = {"producers": [], "consumers": []}
        sql = (
            "SELECT DISTINCT t.name, t.version, t.value FROM terms t JOIN versions v "
            "ON v.name = t.name AND v.version = t.version WHERE t.field = ? "
            "AND t.value LIKE ? ESCAPE '\\' AND v.created = "
            "(SELECT MAX(created) FROM versions WHERE name = v.name) ORDER BY t.name"
        )
        with self._connect() as db:
            for field, key in (("produces", "producers"), ("consumes", "consumers")):
                for name, version, value in db.execute(sql, (field, _like(address))):
                    out[key].append({"name": name, "version": version, "channel": value})
        return out

    def go_live(self, name: str, version: str) -> str | None:
        """Make ``version`` the one the gateway serves of ``name`` (``RouteNotFound`` for a
        version the catalog does not hold); return the version it replaces, if any. Every
        gateway sharing the catalog is told (``Database.notify``)."""
        self.version(name, version)
        with self._connect() as db:
            row = db.execute("SELECT version FROM live WHERE name = ?", (name,)).fetchone()
            db.execute("DELETE FROM live WHERE name = ?", (name,))
            db.execute("INSERT INTO live VALUES (?, ?)", (name, version))
        self.database.notify()
        return None if row is None else str(row[0])

    def take_down(self, name: str) -> str:
        """Stop serving ``name``; return the version that was live. ``RouteNotFound`` if none."""
        with self._connect() as db:
            row = db.execute("SELECT version FROM live WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise RouteNotFound(f"no version of {name!r} is live")
            db.execute("DELETE FROM live WHERE name = ?", (name,))
        self.database.notify()
        return str(row[0])

    def live(self) -> dict[str, str]:
        with self._connect() as db:
            return dict(db.execute("SELECT name, version FROM live ORDER BY name").fetchall())

    def live_files(self) -> list[Path]:
        """The documents to serve besides the gateway config's, one per live name, written
        afresh from the catalog (so every gateway sharing it serves the same)."""
        self.live_dir.mkdir(parents=True, exist_ok=True)
        wanted = {}
        for name, version in self.live().items():
            safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
            wanted[self.live_dir / f"{safe}.yaml"] = self.version(name, version).text
        for stale in set(self.live_dir.glob("*.yaml")) - set(wanted):
            stale.unlink(missing_ok=True)
        for path, text in wanted.items():
            path.write_text(text, encoding="utf-8")
        return sorted(wanted)

    def set_state(self, name: str, version: str, state: str) -> Version:
        if state not in STATES:
            raise ValueError(f"state is one of {', '.join(STATES)}")
        self.version(name, version)
        with self._connect() as db:
            db.execute(
                "UPDATE versions SET state = ? WHERE name = ? AND version = ?",
                (state, name, version),
            )
        return self.version(name, version)

    def _select(self, where: str, *args: str) -> list[Version]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT name, version, kind, title, state, created, text, normalized "
                f"FROM versions {where}",
                args,
            ).fetchall()
        return [
            Version(
                name=row[0],
                version=row[1],
                kind=row[2],
                title=row[3],
                state=row[4],
                created=row[5],
                text=row[6],
                normalized=json.loads(row[7]),
            )
            for row in rows
        ]

    def _connect(self) -> Any:
        return self.database.session()


@dataclass(frozen=True)
class Query:
    """A catalog search: free ``text`` and filters (``*`` is a wildcard in each); one page."""

    text: str | None = None
    channel: str | None = None
    message: str | None = None
    tag: str | None = None
    protocol: str | None = None
    server: str | None = None
    owner: str | None = None
    state: str | None = None
    limit: int = 20
    offset: int = 0

    def filters(self) -> list[tuple[str, str]]:
        fields = ("channel", "message", "tag", "protocol", "server", "owner")
        return [(f, getattr(self, f)) for f in fields if getattr(self, f)]


def terms(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The searchable terms of a normalised document, lowercased: title, channels (addresses,
    and which the document produces or consumes), messages, tags, protocols, servers, owner,
    and free text."""
    info = data.get("info") or {}
    found: list[tuple[str, str]] = [("title", str(info.get("title", "")).lower())]
    for text in (info.get("description"), info.get("summary")):
        if isinstance(text, str):
            found.append(("text", text.lower()))
    contact = info.get("contact") or {}
    for owner in (data.get("x-owner"), contact.get("name"), contact.get("email")):
        if isinstance(owner, str):
            found.append(("owner", owner.lower()))
    for tag in [*(info.get("tags") or []), *(data.get("tags") or [])]:
        if isinstance(tag, dict) and isinstance(tag.get("name"), str):
            found.append(("tag", tag["name"].lower()))
    for name, server in (
        (data.get("servers") or {}).items() if isinstance(data.get("servers"), dict) else []
    ):
        found.append(("server", name.lower()))
        if isinstance(server, dict) and isinstance(server.get("protocol"), str):
            found.append(("protocol", server["protocol"].lower()))
    channels = data.get("channels") or {}
    for key, channel in channels.items():
        if not isinstance(channel, dict):
            continue
        address = str(channel.get("address") or key).lower()
        found.append(("channel", address))
        for message_key, message in (channel.get("messages") or {}).items():
            name = message.get("name") if isinstance(message, dict) else None
            found.append(("message", str(name or message_key).lower()))
    for operation in (data.get("operations") or {}).values():
        ref = ((operation or {}).get("channel") or {}).get("$ref", "")
        channel = channels.get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/channels/") else None
        if isinstance(channel, dict):
            address = str(channel.get("address") or ref.rsplit("/", 1)[-1]).lower()
            found.append(("produces" if operation.get("action") == "send" else "consumes", address))
    for path in data.get("paths") or {}:
        found.append(("channel", str(path).lower()))
    return found


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(pattern: str) -> str:
    """A search value with ``*`` wildcards as a LIKE pattern (case-insensitive for ASCII)."""
    return _escape(pattern.lower()).replace("*", "%")


def open_catalog(config: CatalogConfig) -> Catalog:
    """The catalog the config describes: PostgreSQL when ``postgres_url`` is set, else SQLite."""
    url = config.postgres_url
    if url is None:
        return Catalog(config.path)
    revealed = url if isinstance(url, str) else url.reveal()
    return Catalog(Postgres(revealed), config.path.parent / "live")


def load_text(text: str) -> Document:
    """Load ``text`` through the same loader as ``mesh validate`` (a self-contained document:
    references to other files cannot be followed)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "document.yaml"
        path.write_text(text, encoding="utf-8")
        return load_document(path, Workspace())


def _name(doc: Document, given: str | None) -> str:
    if given and given.strip():
        return given.strip()
    identifier = doc.data.get("id")
    if isinstance(identifier, str) and identifier.strip():
        return identifier.strip()
    return re.sub(r"[^a-z0-9]+", "-", doc.title.lower()).strip("-") or "document"
