"""``python -m mesh`` runs the ``mesh`` command."""

from __future__ import annotations

import sys

from mesh.cli import main

__all__: list[str] = []

sys.exit(main())
