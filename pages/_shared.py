"""What every page shares: the cached workbench and how a result is drawn. UI only."""

from __future__ import annotations

import re

import streamlit as st

from mcv_core.config import Settings
from mcv_core.errors import MCVError, hint_for
from mcv_core.records import ProviderResult
from mcv_core.workbench import Workbench


@st.cache_resource(show_spinner="Connecting to the cloud…", on_release=Workbench.close)
def workbench() -> Workbench:
    # boto3 clients and the openai client are thread-safe: one workbench serves every session. Its background
    # flusher writes results kept in the outbox (table unreachable) once the table is back.
    opened = Workbench.open(Settings.load(), quiet=True)
    opened.start_flusher()
    return opened


def _through_the_router() -> None:
    """Run every page through app.py's st.navigation.

    On a fresh server, Streamlit's legacy pages/ mode runs a deep-linked page (e.g. /history) on its own,
    without app.py: no page config, file names as navigation. Its flag is cleared by the first call of
    st.navigation; clearing it here and rerunning sends this first visit through the router too.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


# Markdown (and Streamlit's own :color[...], :material/...: and $math$) in text that comes from users, files or
# services: file names, error messages, run labels. Escaped so that it is shown as written, never formatted
# (an underscore inside a word, as in MCV_MAX_PIXELS, formats nothing in CommonMark and is left as it is).
_MARKDOWN = re.compile(r"([\\`*\[\]<>#|~$!{}]|:(?=[A-Za-z/])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def plain(text: object) -> str:
    """`text` for a markdown-rendering element (st.error, st.caption, st.markdown): shown as written, on one line."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))


def get_workbench() -> Workbench:
    """The workbench, or a clear error on the page and a stop."""
    _through_the_router()
    try:
        return workbench()
    except MCVError as exc:
        st.error(plain(exc.user_text()), icon=":material/cloud_off:")
        st.stop()
        raise  # st.stop() raises; this line is for type checkers


def mode_caption(settings: Settings) -> str:
    if settings.is_local:
        return "Local cloud: AWS and Azure emulated on this machine, answered by local models."
    return f"Cloud: AWS {settings.region} and Azure OpenAI."


def target_title(target_id: str) -> str:
    """A target's title from the catalogue; an id that is not in it (any more) as itself."""
    return workbench().catalogue.title(target_id)


def result_title(result: ProviderResult) -> str:
    """The title stored with a result, else the catalogue's, else the target id."""
    return result.title or target_title(result.provider)


def money(value: float | None) -> str:
    if value is None:
        return "–"
    return f"${value:.6f}" if value < 0.01 else f"${value:.4f}"


def render_result(result: ProviderResult) -> None:
    """One target's answer as a card: status, cold start, latency, tokens, cost, then the answer itself."""
    with st.container(border=True):
        st.markdown(f"**{plain(result_title(result))}**")
        st.caption(result.model)
        if not result.ok:
            st.badge("error", icon=":material/error:", color="red")
            st.error(plain(f"{result.error_type}: {result.error}"), icon=":material/error:")
            hint = hint_for(result.error_type)
            if hint and hint not in (result.error or ""):
                st.caption(f"What to do: {plain(hint)}")
            st.caption(f"after {result.latency_ms:,.0f} ms, {result.attempts} attempt(s)")
            return
        if result.cold_start:
            st.badge("cold start", icon=":material/ac_unit:", color="orange")
        elif result.cold_start is False:
            st.badge("warm", icon=":material/local_fire_department:", color="green")
        tokens = "–"
        if result.input_tokens is not None:
            tokens = f"{result.input_tokens:,} / {result.output_tokens:,}"
        # Side by side when the column is wide enough, wrapped under each other when it is not.
        with st.container(horizontal=True, wrap=True):
            st.metric("Latency", f"{result.latency_ms:,.0f} ms", width="content")
            st.metric("Tokens in / out", tokens, width="content")
            st.metric("Cost", money(result.cost_usd), width="content")
        details = []
        if result.provider_latency_ms is not None:
            details.append(f"service time {result.provider_latency_ms:,.0f} ms")
        if result.image_tokens is not None:
            details.append(f"image ≈ {result.image_tokens:,} tokens")
        if result.image_width:
            details.append(f"sent {result.image_width}×{result.image_height}")
        if result.attempts > 1:
            details.append(f"{result.attempts} attempts")
        if details:
            st.caption(" · ".join(details))
        # Model output is shown as plain text, never as markdown or HTML.
        st.text(result.output)
        if result.labels:
            st.dataframe(
                {"label": [l.label for l in result.labels], "score": [l.score for l in result.labels]},
                column_config={"score": st.column_config.ProgressColumn("score", min_value=0.0, max_value=1.0, format="%.2f")},
                hide_index=True,
                width="stretch",
            )
