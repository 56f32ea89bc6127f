"""Protocol adapters: entrypoints speak to clients, endpoints speak to backends."""

from __future__ import annotations

__all__: list[str] = []
