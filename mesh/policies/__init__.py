"""Message policies, one small module each, composed into chains when routes are compiled."""

from __future__ import annotations

from mesh.policies.key import KeyFromField
from mesh.policies.name import NameByMessage
from mesh.policies.validate import SchemaValidation

__all__ = ["KeyFromField", "NameByMessage", "SchemaValidation"]
