"""Generate the gRPC modules from ``specs/proto/mesh/v1/gateway.proto`` (``make protos``).

The proto keeps its canonical name ``mesh/v1/gateway.proto`` (what reflection shows), and the
generated modules live in ``connectors.entrypoints.grpc_api``; the import protoc writes is
rewritten to that package, since ``mesh`` is the gateway's own package name.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["GENERATED", "PROTO", "generate"]

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "specs" / "proto"
PACKAGE = "connectors.entrypoints.grpc_api"
GENERATED = ROOT / "connectors" / "entrypoints" / "grpc_api"
FILES = ("gateway_pb2.py", "gateway_pb2.pyi", "gateway_pb2_grpc.py")


def generate(target: Path) -> None:
    """Write the generated modules (and an ``__init__.py``) into ``target``."""
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tmp:
        code = protoc.main(
            [
                "protoc",
                f"-I{PROTO}",
                f"-I{Path(protoc.__file__).parent / '_proto'}",
                f"--python_out={tmp}",
                f"--pyi_out={tmp}",
                f"--grpc_python_out={tmp}",
                str(PROTO / "mesh" / "v1" / "gateway.proto"),
            ]
        )
        if code != 0:
            raise RuntimeError(f"protoc failed with {code}")
        target.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            text = (Path(tmp) / "mesh" / "v1" / name).read_text()
            text = text.replace(
                "from mesh.v1 import gateway_pb2", f"from {PACKAGE} import gateway_pb2"
            )
            (target / name).write_text(text)
    (target / "__init__.py").write_text('"""Generated from specs/proto by `make protos`."""\n')


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else GENERATED)
    shutil.rmtree(GENERATED / "__pycache__", ignore_errors=True)
