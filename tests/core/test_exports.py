"""Every module declares its public surface, and every name it lists exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import connectors
import mesh


def modules() -> list[str]:
    names = []
    for package in (mesh, connectors):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):  # running it is its whole job
                names.append(info.name)
    return names


@pytest.mark.parametrize("name", modules())
def test_module_declares_all(name: str) -> None:
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    for exported in module.__all__:
        assert hasattr(module, exported), f"{name}.__all__ lists missing {exported!r}"
