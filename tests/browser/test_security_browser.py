"""Security of the served app, in a real browser and over HTTP: XSRF protection on the upload endpoint, the upload
size limit, the server on loopback only, and model output (and error text) shown as text, never as HTML or
markdown."""

from __future__ import annotations

import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from mcv_core.records import ProviderResult, Run

pytestmark = pytest.mark.browser

# A model answer and an error message as a hostile or careless service might return them. Were either rendered
# as HTML or markdown, the page would run the handlers (setting window.__mcv_pwned), bold the words or link.
HOSTILE_OUTPUT = (
    '<img src="x" onerror="window.__mcv_pwned=1"> **not bold** [click me](javascript:window.__mcv_pwned=2) '
    "<script>window.__mcv_pwned=3</script> :red[not red]"
)
HOSTILE_ERROR = '<img src="y" onerror="window.__mcv_pwned=4"> **not bold either** :red[alarm]'


def test_the_upload_endpoint_refuses_requests_without_the_xsrf_token(guarded_page: Any, streamlit_server: Any) -> None:
    from playwright.sync_api import expect

    page = guarded_page.page
    page.goto(streamlit_server.url)
    expect(page.locator(".st-key-compare-go button")).to_be_visible(timeout=60_000)
    cookies = {c["name"]: c["value"] for c in page.context.cookies() if c["name"] == "_streamlit_xsrf"}
    assert cookies, "the page set no XSRF cookie: XSRF protection is off"
    url = f"{streamlit_server.url}/_stcore/upload_file/some-session/some-file"
    files = {"file": ("cat.jpg", b"\xff\xd8\xff", "image/jpeg")}

    # A request another site could make: no token, or a cookie without the matching header.
    assert requests.put(url, files=files, timeout=10).status_code == 403
    assert requests.put(url, files=files, cookies=cookies, timeout=10).status_code == 403
    # With the token as the page sends it, the XSRF check passes and the made-up session is what is refused.
    with_token = requests.put(url, files=files, cookies=cookies, headers={"X-Xsrftoken": cookies["_streamlit_xsrf"]}, timeout=10)
    assert with_token.status_code == 400 and "session" in with_token.text.lower(), with_token.text


def test_an_upload_over_the_size_limit_is_refused_by_the_page(guarded_page: Any, streamlit_server: Any) -> None:
    from playwright.sync_api import expect

    page = guarded_page.page
    page.goto(streamlit_server.url)
    go = page.locator(".st-key-compare-go button")
    expect(go).to_be_visible(timeout=60_000)
    big = b"\xff\xd8\xff\xe0" + b"\0" * (20 * 1024 * 1024 + 1)  # one byte over .streamlit/config.toml's 20 MB
    page.locator(".st-key-compare-files input[type=file]").set_input_files(
        files=[{"name": "big.jpg", "mimeType": "image/jpeg", "buffer": big}]
    )
    expect(page.get_by_text("File must be 20.0MB or smaller.")).to_be_visible(timeout=30_000)
    expect(go).to_be_disabled()  # nothing usable was uploaded


def test_the_app_server_listens_on_loopback_only(streamlit_server: Any) -> None:
    port = urlsplit(streamlit_server.url).port
    listeners = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                listeners.append(socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, ordered))
    assert listeners and all(a in ("127.0.0.1", "::1", "::ffff:127.0.0.1") for a in listeners), listeners


@pytest.fixture
def hostile_run(workbench: Any, cat_jpeg: bytes) -> Run:
    """A comparison in history whose answer and error text are hostile (written as a run of the page would be)."""
    image = workbench.load_image(cat_jpeg, "hostile.jpg")
    run = Run.new(image, "What is in this image?", ["bedrock", "azure_openai"], source="ui")
    run.image_key = workbench.store.upload(image, run.created_at)
    run.results = [
        ProviderResult("bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "ok", output=HOSTILE_OUTPUT, latency_ms=812.0),
        ProviderResult(
            "azure_openai", "gpt-4o-mini", "error", latency_ms=95.0, error_type="service_error", error=HOSTILE_ERROR
        ),
    ]
    run.wall_ms = 812.0
    assert run.created_at <= datetime.now(timezone.utc)
    saved = workbench.history.save(run)
    assert saved.stored
    return run


def test_model_output_and_errors_are_shown_as_text_in_history(guarded_page: Any, streamlit_server: Any, hostile_run: Run) -> None:
    from playwright.sync_api import expect

    page = guarded_page.page
    page.goto(f"{streamlit_server.url}/history")
    expect(page.get_by_role("heading", name="History", exact=True)).to_be_visible(timeout=90_000)
    page.get_by_role("tab", name="Outputs").click()
    shown = page.get_by_text(HOSTILE_OUTPUT, exact=True)
    expect(shown).to_be_visible(timeout=90_000)  # every character as the model wrote it, on the page
    expect(page.get_by_text(HOSTILE_ERROR, exact=True)).to_be_visible()

    assert page.evaluate("window.__mcv_pwned") is None, "a handler in the model's output ran"
    assert page.locator('img[src="x"], img[src="y"]').count() == 0
    assert page.locator('a[href^="javascript"]').count() == 0
    for words in ("not bold", "not bold either"):
        assert page.locator("strong", has_text=words).count() == 0, f"{words!r} was rendered bold"
    assert page.locator("script", has_text="__mcv_pwned").count() == 0
    assert not guarded_page.outside, guarded_page.outside
