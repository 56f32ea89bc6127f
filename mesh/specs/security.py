"""Client-facing security from the documents: which schemes protect which routes.

AsyncAPI: an operation's ``security`` protects the gateway routes of that operation (a ``send``
operation the subscribe side, a ``receive`` operation the publish side); any one of its schemes
suffices, with the ``scopes`` the scheme lists. An operation without ``security`` leaves its side
open. Server ``security`` describes how the gateway reaches the broker and protects no route.
OpenAPI: an operation's ``security`` replaces the document's; any one requirement object
suffices, and all schemes within one are needed; ``{}`` allows anonymous access.

Supported for clients: AsyncAPI ``httpApiKey`` and OpenAPI ``apiKey`` (keys issued by the
gateway), and ``http`` bearer, ``oauth2`` and ``openIdConnect`` (JWTs checked as the gateway
config says). A route protected by any other kind is a load error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mesh.config import GatewayConfig
from mesh.core.auth import KeyLocation, Requirement, Scheme, SchemeKind, SchemeNeed
from mesh.core.pointer import split_pointer
from mesh.specs.document import Document
from mesh.specs.problems import SpecError, SpecProblem

__all__ = ["Schemes"]


class Schemes:
    """The schemes every document's routes use, by name; one definition per name."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.found: dict[str, Scheme] = {}

    def asyncapi(self, doc: Document, operation: Mapping[str, Any], pointer: str) -> Requirement:
        """The requirement of one AsyncAPI operation (open when it has no ``security``)."""
        alternatives = []
        for index, raw in enumerate(operation.get("security") or []):
            located = doc.locate(raw, doc.path, f"{pointer}/security/{index}")
            name = (
                split_pointer(located.pointer)[-1]
                if isinstance(raw, dict) and "$ref" in raw
                else f"{pointer}/security/{index}"
            )
            scheme = self._add(name, located.value, located.file, located.pointer)
            scopes = frozenset(located.value.get("scopes") or [])
            alternatives.append((SchemeNeed(scheme.name, scopes),))
        return Requirement(tuple(alternatives) or ((),))

    def openapi(self, doc: Document, operation: Mapping[str, Any], pointer: str) -> Requirement:
        """The requirement of one OpenAPI operation (the document's when it has none)."""
        where = f"{pointer}/security"
        listed = operation.get("security")
        if listed is None:
            listed, where = doc.data.get("security"), "/security"
        if not listed:  # absent, or [] which removes the document's
            return Requirement(((),))
        return self.objects(doc, listed, where)

    def objects(
        self, doc: Document, listed: Sequence[Mapping[str, Sequence[str]]], where: str
    ) -> Requirement:
        """Security requirement objects (``{scheme: [scopes]}``, any one suffices) naming the
        document's ``components/securitySchemes``; ``[]`` is open."""
        if not listed:
            return Requirement(((),))
        defined = (doc.data.get("components") or {}).get("securitySchemes") or {}
        alternatives = []
        for index, needs in enumerate(listed):
            alternative = []
            for name, scopes in needs.items():
                if name not in defined:
                    raise _error(doc.path, f"{where}/{index}", f"no security scheme {name!r}")
                scheme_pointer = f"/components/securitySchemes/{name}"
                located = doc.locate(defined[name], doc.path, scheme_pointer)
                self._add(name, located.value, located.file, located.pointer)
                alternative.append(SchemeNeed(name, frozenset(scopes or [])))
            alternatives.append(tuple(alternative))
        return Requirement(tuple(alternatives))

    def _add(self, name: str, value: Mapping[str, Any], file: Path, pointer: str) -> Scheme:
        scheme = _scheme(name, value, file, pointer)
        known = self.found.setdefault(name, scheme)
        if known != scheme:
            raise _error(
                file, pointer, f"security scheme {name!r} is defined differently elsewhere"
            )
        self._check_configured(scheme, file, pointer)
        return scheme

    def _check_configured(self, scheme: Scheme, file: Path, pointer: str) -> None:
        auth = self.config.auth
        if scheme.kind is SchemeKind.BEARER and scheme.name not in auth.jwt:
            raise _error(
                file,
                pointer,
                f"bearer scheme {scheme.name!r} needs auth.jwt.{scheme.name} in "
                "the gateway config (issuer, audience, keys)",
            )
        tls = self.config.tls
        if scheme.kind is SchemeKind.CERTIFICATE and (tls is None or tls.client_ca_file is None):
            raise _error(
                file,
                pointer,
                f"certificate scheme {scheme.name!r} needs tls.client_ca_file in the gateway "
                "config",
            )
        if scheme.kind in (SchemeKind.API_KEY, SchemeKind.BASIC) and auth.keys is None:
            raise _error(
                file,
                pointer,
                f"API key scheme {scheme.name!r} needs auth.keys in the gateway config",
            )


def _scheme(name: str, value: Mapping[str, Any], file: Path, pointer: str) -> Scheme:
    kind = value.get("type")
    if kind in ("httpApiKey", "apiKey") and value.get("in") in ("header", "query", "cookie"):
        return Scheme(name, SchemeKind.API_KEY, KeyLocation(value["in"]), str(value["name"]))
    if kind == "http" and str(value.get("scheme", "")).lower() == "bearer":
        return Scheme(name, SchemeKind.BEARER)
    if kind == "http" and str(value.get("scheme", "")).lower() == "basic":
        return Scheme(name, SchemeKind.BASIC, parameter="password")
    if kind == "apiKey" and value.get("in") in ("user", "password"):  # AsyncAPI: Basic's parts
        return Scheme(name, SchemeKind.BASIC, parameter=str(value["in"]))
    if kind in ("oauth2", "openIdConnect"):
        return Scheme(name, SchemeKind.BEARER)
    if kind in ("X509", "mutualTLS"):
        return Scheme(name, SchemeKind.CERTIFICATE)
    raise _error(
        file,
        pointer,
        f"security scheme {name!r} ({kind}) cannot protect gateway routes; use an API key "
        "(httpApiKey, apiKey, http basic), a bearer token (http bearer, oauth2, "
        "openIdConnect) or a client certificate (X509, mutualTLS)",
    )


def _error(file: Path, pointer: str, message: str) -> SpecError:
    return SpecError([SpecProblem(str(file), pointer, message)])
