"""The catalog's store: registration validated as mesh validate does, versions, states, and a
restart (the SQLite file reopened)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.catalog.store import Catalog, Query
from mesh.core.errors import CatalogConflict, RouteNotFound
from mesh.specs.problems import SpecError
from tests.conftest import EXAMPLES, SHARED

CORPUS = sorted((SHARED / "corpus" / "asyncapi").glob("*/*.yml"))


def test_every_corpus_document_registers(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    for index, path in enumerate(CORPUS):
        catalog.register(path.read_text(), name=f"corpus-{index}")
    assert len(catalog.documents()) == len(CORPUS)


def test_versions_keep_their_text_and_normal_form_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / "catalog.sqlite"
    text = (EXAMPLES / "telemetry.yaml").read_text()  # AsyncAPI 2.6, converted on load
    first, _ = Catalog(path).register(text)
    second_text = text.replace("version: 1.0.0", "version: 1.1.0", 1)
    Catalog(path).register(second_text, state="active")
    reopened = Catalog(path)
    versions = reopened.versions(first.name)
    assert [(v.version, v.state) for v in versions] == [("1.0.0", "draft"), ("1.1.0", "active")]
    assert versions[0].text == text
    assert versions[0].normalized["asyncapi"].startswith("3.")
    assert first.name == "telemetry"  # no AsyncAPI id: the title


def test_a_version_is_immutable_and_states_move(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.sqlite")
    text = (EXAMPLES / "orders.yaml").read_text()
    version, _ = catalog.register(text, name="orders")
    with pytest.raises(CatalogConflict):
        catalog.register(text, name="orders")
    assert catalog.set_state("orders", version.version, "deprecated").state == "deprecated"
    with pytest.raises(ValueError, match="state is one of"):
        catalog.set_state("orders", version.version, "gone")
    with pytest.raises(RouteNotFound):
        catalog.version("orders", "9.9.9")


def test_an_invalid_document_is_refused_with_every_problem(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.sqlite")
    with pytest.raises(SpecError) as refused:
        catalog.register("asyncapi: 3.0.0\ninfo: {title: T}\nchannels: {c: {bogus: 1}}\n")
    assert sorted(p.pointer for p in refused.value.problems) == [
        "/channels/c/bogus",
        "/info/version",
    ]
    assert catalog.documents() == []


def populated(tmp_path: Path) -> Catalog:
    catalog = Catalog(tmp_path / "c.sqlite")
    for name in ("orders", "telemetry", "devices", "public"):
        catalog.register((EXAMPLES / f"{name}.yaml").read_text(), name=name)
    return catalog


def test_search_filters_rank_and_paginate(tmp_path: Path) -> None:
    catalog = populated(tmp_path)
    assert [r["name"] for r in catalog.search(Query(protocol="mqtt"))[1]] == ["devices"]
    assert [r["name"] for r in catalog.search(Query(channel="orders.*"))[1]] == ["orders"]
    telemetry = catalog.search(Query(channel="*/telemetry"))[1]
    assert [r["name"] for r in telemetry] == ["devices", "public"]  # an OpenAPI path counts too
    assert [r["name"] for r in catalog.search(Query(message="reading"))[1]] == [
        "devices",
        "telemetry",
    ]
    ranked = catalog.search(Query(text="telemetry"))[1]
    assert ranked[0]["name"] == "telemetry"  # its title, above channels that mention it
    total, page = catalog.search(Query(limit=2, offset=2))
    assert (total, len(page)) == (4, 2)
    assert catalog.search(Query(state="active"))[0] == 0


def test_lineage_names_producers_and_consumers_of_a_channel(tmp_path: Path) -> None:
    catalog = populated(tmp_path)
    found = catalog.lineage("devices/*/telemetry")
    assert {d["name"] for d in found["producers"]} == {"devices"}
    assert {d["name"] for d in found["consumers"]} == {"devices"}
    assert catalog.lineage("nothing.here") == {"producers": [], "consumers": []}
