"""Backend connectors, registered by name in the ``mesh.connectors`` entry point group."""

from __future__ import annotations

__all__: list[str] = []
