"""AppTest runs go through app.py's router, as on a served app (the `routed` fixture of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _every_run_routed(routed: None) -> None:
    """Every AppTest of this folder: see `routed`."""


@pytest.fixture(autouse=True)
def _no_workbench_outlives_its_test() -> Iterator[None]:
    """A page's cached workbench runs a background outbox flusher in this process; released after every test, so
    that none of them writes (or steals) the outbox of a later test sharing the session's data folder."""
    yield
    import streamlit as st

    st.cache_resource.clear()  # releases the workbench: Workbench.close stops its flusher
    st.cache_data.clear()
