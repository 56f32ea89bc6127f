"""Registered documents and their versions, kept in SQLite (a file in the data directory).

A document is named by its AsyncAPI ``id``, else by the name given at registration, else by its
title; a version by ``info.version``. Each version keeps the text as registered and the
normalised form (the 3.x shape, 2.6 converted) and a lifecycle state. Versions are immutable:
registering the same name and version again is a conflict, whatever the text.
"""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh.catalog.compat import Change, diff
from mesh.core.errors import BreakingChange, CatalogConflict, RouteNotFound
from mesh.specs.document import Document
from mesh.specs.loader import load_document
from mesh.specs.source import Workspace

__all__ = ["STATES", "Catalog", "Version"]

STATES = ("draft", "active", "deprecated", "retired")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    text TEXT NOT NULL,
    normalized TEXT NOT NULL,
    PRIMARY KEY (name, version)
)
"""


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

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as db:
            db.execute(_SCHEMA)

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
        doc = _load(text)
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
        except sqlite3.IntegrityError:
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

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5)


def _load(text: str) -> Document:
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
