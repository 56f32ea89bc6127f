from __future__ import annotations

import pytest

from mesh.core.address import parse_template
from mesh.core.errors import InvalidParameter, RouteNotFound
from mesh.core.routes import Action, Route, RouteTable


def route(path: str, address: str | None = None, **kwargs: object) -> Route:
    return Route(
        id=path,
        path=parse_template(path),
        address=parse_template(address or path.lstrip("/")),
        endpoint="main",
        actions=frozenset({Action.PUBLISH}),
        messages=(),
        **kwargs,  # type: ignore[arg-type]
    )


def test_literal_paths_win_and_templates_bind_values() -> None:
    table = RouteTable([route("/a.{x}"), route("/a.b")])
    assert table.resolve("/a.b").route.path.text == "/a.b"
    match = table.resolve("/a.c")
    assert match.values == {"x": "c"}


def test_unknown_path_raises_route_not_found() -> None:
    with pytest.raises(RouteNotFound):
        RouteTable([route("/a")]).resolve("/b")


def test_topic_checks_parameters() -> None:
    r = route("/s.{region}", parameters={"region": frozenset({"eu"})})
    assert r.topic({"region": "eu"}) == "s.eu"
    with pytest.raises(InvalidParameter):
        r.topic({"region": "us"})
