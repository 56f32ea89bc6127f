"""Authentication for every entrypoint: API keys issued by the gateway and JWT bearer tokens."""

from __future__ import annotations

__all__: list[str] = []
