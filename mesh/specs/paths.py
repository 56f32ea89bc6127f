"""Route paths that collide: with the gateway's own routes, or with each other."""

from __future__ import annotations

from mesh.core.address import AddressTemplate

__all__ = ["RESERVED_PATHS", "RESERVED_PREFIX", "overlap", "reserved"]

RESERVED_PATHS = ("/healthz", "/readyz", "/openapi.json")
RESERVED_PREFIX = "/_mesh"


def reserved(path: AddressTemplate) -> str | None:
    probe = path.text.split("{", 1)[0]
    if (
        path.text in RESERVED_PATHS
        or probe == RESERVED_PREFIX
        or probe.startswith(RESERVED_PREFIX + "/")
    ):
        return f"path {path.text!r} is reserved for the gateway's own routes"
    for reserved in RESERVED_PATHS:
        if path.match(reserved) is not None:
            return f"path {path.text!r} would capture the gateway's own route {reserved}"
    return None


def overlap(a: AddressTemplate, b: AddressTemplate) -> bool:
    if a.is_literal and b.is_literal:
        return a.text == b.text
    if a.is_literal:
        return b.match(a.text) is not None
    if b.is_literal:
        return a.match(b.text) is not None
    return (
        _shape(a) == _shape(b) or a.match(_sample(b)) is not None or b.match(_sample(a)) is not None
    )


def _shape(template: AddressTemplate) -> str:
    return template.render(dict.fromkeys(template.parameters, "{}"))


def _sample(template: AddressTemplate) -> str:
    return template.render(dict.fromkeys(template.parameters, "x"))
