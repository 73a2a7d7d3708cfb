"""AppTest runs go through app.py's router, as on a served app (the `routed` fixture of tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _every_run_routed(routed: None) -> None:
    """Every AppTest of this folder: see `routed`."""
