"""Spec loading: read, resolve, convert, validate and compile AsyncAPI and OpenAPI documents."""

from __future__ import annotations

__all__: list[str] = []
