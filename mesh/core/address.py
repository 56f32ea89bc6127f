"""Channel address templates: ``orders.{region}.created`` with one topic per parameter value.

Parameter values are checked before anything reaches a broker: never empty, no ``/``, ``#``,
``+``, ``..``, NUL or control characters, and inside the parameter's ``enum`` when it has one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mesh.core.errors import InvalidParameter

__all__ = ["WILDCARD", "AddressTemplate", "check_parameter_value", "parse_template"]

WILDCARD = "*"  # a parameter value standing for every value (subscribing, where supported)

_EXPRESSION = re.compile(r"\{([^{}]+)\}")
_FORBIDDEN = re.compile(r"[/#+\x00-\x1f\x7f]|\.\.")


@dataclass(frozen=True, slots=True)
class AddressTemplate:
    """A parsed address: literal text and ``{name}`` expressions, in order."""

    text: str
    parameters: tuple[str, ...]
    pattern: re.Pattern[str]

    @property
    def is_literal(self) -> bool:
        return not self.parameters

    def match(self, value: str) -> dict[str, str] | None:
        """Return the parameter values if ``value`` is an instance of this template."""
        found = self.pattern.fullmatch(value)
        return None if found is None else found.groupdict()

    def render(self, values: Mapping[str, str]) -> str:
        """Substitute ``values`` (already checked) into the template."""
        return _EXPRESSION.sub(lambda m: values[m.group(1)], self.text)


def parse_template(text: str) -> AddressTemplate:
    """Parse ``text``; a parameter named twice or a stray brace raises ``ValueError``."""
    names: list[str] = []
    regex: list[str] = []
    last = 0
    for found in _EXPRESSION.finditer(text):
        name = found.group(1)
        if name in names:
            raise ValueError(f"parameter {name!r} appears twice in {text!r}")
        if not name.isidentifier():
            raise ValueError(f"parameter name {name!r} in {text!r} is not an identifier")
        names.append(name)
        regex.append(re.escape(text[last : found.start()]))
        regex.append(f"(?P<{name}>[^/]+?)")
        last = found.end()
    tail = text[last:]
    if "{" in tail or "}" in tail or any("{" in p or "}" in p for p in _literals(text)):
        raise ValueError(f"unbalanced brace in address {text!r}")
    regex.append(re.escape(tail))
    return AddressTemplate(text, tuple(names), re.compile("".join(regex)))


def _literals(text: str) -> list[str]:
    return _EXPRESSION.split(text)[::2]


def check_parameter_value(name: str, value: str, allowed: frozenset[str] | None) -> None:
    """Raise ``InvalidParameter`` unless ``value`` may be substituted for parameter ``name``."""
    if not value:
        raise InvalidParameter(f"parameter {name!r} is empty", parameter=name)
    if _FORBIDDEN.search(value):
        raise InvalidParameter(
            f"parameter {name!r} contains a character that is not allowed", parameter=name
        )
    if allowed is not None and value not in allowed:
        raise InvalidParameter(
            f"parameter {name!r} must be one of {sorted(allowed)}", parameter=name
        )
