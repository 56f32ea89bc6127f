"""Connectors by name, from the ``mesh.connectors`` entry point group, so third parties add more."""

from __future__ import annotations

from importlib.metadata import entry_points

from mesh.core.connector import Connector

__all__ = ["load_connectors"]

GROUP = "mesh.connectors"


def load_connectors(names: frozenset[str] | None = None) -> dict[str, Connector]:
    """Instantiate the registered connectors (only ``names`` when given), keyed by name."""
    found: dict[str, Connector] = {}
    for entry in entry_points(group=GROUP):
        if names is None or entry.name in names:
            found[entry.name] = entry.load()()
    return found
