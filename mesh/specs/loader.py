"""Load AsyncAPI (3.0, 3.1, 2.6) and OpenAPI 3.1 documents: parse, convert, validate, check.

``load_document`` returns a ``Document`` or raises ``SpecError`` listing every problem, each with
the file and the JSON pointer. Warnings never refuse a document; they travel on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mesh.core.pointer import escape
from mesh.specs.asyncapi import AsyncApi
from mesh.specs.checks import check_asyncapi
from mesh.specs.convert import convert_2_6
from mesh.specs.document import Document, Kind
from mesh.specs.model import problems_from
from mesh.specs.openapi import OpenApi
from mesh.specs.problems import Severity, SpecError, SpecProblem
from mesh.specs.source import Workspace, walk_refs

__all__ = ["check_files", "load_document"]

_ASYNCAPI_3 = ("3.0.0", "3.1.0")
_PATH_PARAM = re.compile(r"\{([^{}/]+)\}")


def load_document(path: Path, workspace: Workspace | None = None) -> Document:
    """Read, convert and check ``path``; raise ``SpecError`` when anything is wrong."""
    workspace = workspace or Workspace()
    path = path.resolve()
    raw = workspace.load(path)
    name = str(path)
    if not isinstance(raw, dict):
        raise SpecError([SpecProblem(name, "", "a document must be a mapping at the top level")])
    if "asyncapi" in raw:
        return _asyncapi(path, raw, workspace)
    if "openapi" in raw:
        return _openapi(path, raw, workspace)
    raise SpecError([SpecProblem(name, "", "not an AsyncAPI or OpenAPI document")])


def check_files(paths: Iterable[Path]) -> list[SpecProblem]:
    """Load each file and return every problem found (errors and warnings), in file order."""
    problems: list[SpecProblem] = []
    for path in paths:
        try:
            problems += load_document(path).warnings
        except SpecError as exc:
            problems += exc.problems
    return problems


def _asyncapi(path: Path, raw: dict[str, Any], workspace: Workspace) -> Document:
    version = str(raw.get("asyncapi"))
    data = raw
    if re.fullmatch(r"2\.6\.\d+", version):
        data = convert_2_6(raw)
        workspace.add(path, data)
    elif version not in _ASYNCAPI_3:
        message = f"AsyncAPI version {version!r} is not supported (3.0.0, 3.1.0, 2.6.0 are)"
        raise SpecError([SpecProblem(str(path), "/asyncapi", message)])
    model = _validate(AsyncApi, data, path)
    doc = _document(path, Kind.ASYNCAPI, version, data, model, workspace)
    return _finish(doc, check_asyncapi(doc))


def _openapi(path: Path, raw: dict[str, Any], workspace: Workspace) -> Document:
    model = _validate(OpenApi, raw, path)
    doc = _document(path, Kind.OPENAPI, str(raw["openapi"]), raw, model, workspace)
    problems = [
        SpecProblem(str(path), pointer + "/$ref", str(exc))
        for pointer, ref in walk_refs(raw)
        for exc in _lookup_error(workspace, ref, path)
    ]
    problems += _path_parameters(doc, model)
    return _finish(doc, problems)


def _lookup_error(workspace: Workspace, ref: str, path: Path) -> list[LookupError]:
    try:
        workspace.resolve(ref, path)
    except LookupError as exc:
        return [exc]
    return []


def _path_parameters(doc: Document, model: OpenApi) -> list[SpecProblem]:
    problems = []
    for template, item in (model.paths or {}).items():
        used = set(_PATH_PARAM.findall(template))
        declared = {p.name for p in item.parameters or [] if hasattr(p, "name")}
        for method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
            op = getattr(item, method)
            if op is None:
                continue
            names = declared | {p.name for p in op.parameters or [] if hasattr(p, "name")}
            refs = [
                p
                for p in [*(item.parameters or []), *(op.parameters or [])]
                if not hasattr(p, "name")
            ]
            if refs:
                continue  # parameters by reference: checked only when they resolve
            problems += [
                SpecProblem(
                    str(doc.path),
                    f"/paths/{escape(template)}/{method}",
                    f"path parameter {name!r} is not declared",
                )
                for name in sorted(used - names)
            ]
    return problems


def _validate(model: Any, data: dict[str, Any], path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc, str(path))) from exc


def _document(
    path: Path, kind: Kind, version: str, data: dict[str, Any], model: Any, workspace: Workspace
) -> Document:
    return Document(path, kind, version, workspace.texts[path], data, model, workspace)


def _finish(doc: Document, problems: list[SpecProblem]) -> Document:
    if any(p.severity is Severity.ERROR for p in problems):
        raise SpecError(problems)
    return Document(
        doc.path,
        doc.kind,
        doc.version,
        doc.text,
        doc.data,
        doc.model,
        doc.workspace,
        tuple(problems),
    )
