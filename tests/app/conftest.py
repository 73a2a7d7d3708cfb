"""AppTest runs go through app.py's router, as on a served app."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def routed(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest resets Streamlit's legacy `pages/` flag before each run, so every run after the first would start
    in legacy mode; pages/_shared.py then reruns through the router (its deep-link fix), and that extra rerun
    drops the run's button clicks. On a server the flag is cleared once, by the first st.navigation call: here
    it is kept cleared, so each run is what a served app does. (The deep link itself: tests/browser.)"""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self: PagesManager, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
