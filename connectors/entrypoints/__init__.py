"""Client-facing protocols served over HTTP: REST publish, long poll and SSE."""

from __future__ import annotations

__all__: list[str] = []
