"""The catalog of registered AsyncAPI and OpenAPI documents."""

from __future__ import annotations

__all__: list[str] = []
