"""Breaking changes between versions, each rule with a change that does not break."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from mesh.catalog.compat import diff, readable

BASE: dict[str, Any] = {
    "asyncapi": "3.0.0",
    "info": {"title": "T", "version": "1.0.0"},
    "channels": {
        "orders": {
            "address": "orders.placed",
            "messages": {"placed": {"$ref": "#/components/messages/placed"}},
        }
    },
    "operations": {
        "place": {"action": "receive", "channel": {"$ref": "#/channels/orders"}},
    },
    "components": {
        "messages": {"placed": {"payload": {"$ref": "#/components/schemas/order"}}},
        "schemas": {
            "order": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string"},
                    "total": {"type": "number"},
                    "status": {"type": "string", "enum": ["new", "paid"]},
                    "note": {"type": ["string", "null"]},
                },
            }
        },
    },
}


def changed(edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    new = copy.deepcopy(BASE)
    edit(new)
    return new


ORDER = ("components", "schemas", "order")


def order(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["components"]["schemas"]["order"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("edit", "kind"),
    [
        (lambda d: d["channels"].pop("orders"), "channel-removed"),
        (lambda d: d["channels"]["orders"].update(address="orders.created"), "address-changed"),
        (lambda d: d["operations"].pop("place"), "operation-removed"),
        (lambda d: d["operations"]["place"].update(action="send"), "action-changed"),
        (lambda d: order(d)["properties"].pop("total"), "property-removed"),
        (lambda d: order(d)["required"].append("total"), "property-required"),
        (lambda d: order(d)["properties"]["total"].update(type="integer"), "type-narrowed"),
        (lambda d: order(d)["properties"]["note"].update(type="string"), "type-narrowed"),
        (lambda d: order(d)["properties"]["status"].update(enum=["new"]), "enum-narrowed"),
        (lambda d: order(d)["properties"]["id"].update(enum=["a"]), "enum-narrowed"),
    ],
)
def test_breaking_changes(edit: Callable[[dict[str, Any]], object], kind: str) -> None:
    changes = diff(BASE, changed(edit))
    assert [c.kind for c in changes if c.breaking] == [kind]


@pytest.mark.parametrize(
    ("edit", "kind"),
    [
        (lambda d: d["channels"].update(refunds={"address": "refunds"}), "channel-added"),
        (
            lambda d: d["operations"].update(get={"action": "send", "channel": {}}),
            "operation-added",
        ),
        (lambda d: order(d)["properties"].update(currency={"type": "string"}), "property-added"),
        (lambda d: order(d).update(required=[]), None),
        (lambda d: order(d)["properties"]["total"].update(type=["number", "string"]), None),
        (lambda d: order(d)["properties"]["status"].update(enum=["new", "paid", "sent"]), None),
        (lambda d: order(d)["properties"]["status"].pop("enum"), None),
    ],
)
def test_changes_that_do_not_break(
    edit: Callable[[dict[str, Any]], object], kind: str | None
) -> None:
    changes = diff(BASE, changed(edit))
    assert not any(c.breaking for c in changes)
    assert [c.kind for c in changes] == ([kind] if kind else [])


def test_openapi_removed_operations_and_new_required_parameters_break() -> None:
    old = {"openapi": "3.1.0", "paths": {"/a": {"get": {}, "post": {}}}}
    new = {
        "openapi": "3.1.0",
        "paths": {"/a": {"get": {"parameters": [{"name": "q", "in": "query", "required": True}]}}},
    }
    kinds = {c.kind for c in diff(old, new) if c.breaking}
    assert kinds == {"operation-removed", "parameter-required"}


def test_the_readable_form_marks_breaking_changes() -> None:
    text = readable(diff(BASE, changed(lambda d: d["channels"].pop("orders"))))
    assert text == "BREAKING /channels/orders: the channel was removed\n"
