"""Mesh: an event + API gateway configured by AsyncAPI and OpenAPI documents.

Start it with ``mesh run`` (see ``mesh.cli``) or, from Python, ``mesh.gateway.serve``.
"""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
