"""Infrastructure: what is deployed (Terraform outputs, or the local cloud's) and whether each part is healthy."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mcv_core import infra
from mcv_core.errors import MCVError
from pages._shared import get_workbench, mode_caption, plain

workbench = get_workbench()
settings = workbench.settings
BADGES = {"ok": ("ok", "green", ":material/check_circle:"), "warn": ("warn", "orange", ":material/warning:"), "fail": ("fail", "red", ":material/error:")}

st.title("Infrastructure")
st.caption(f"What is deployed and whether each part answers as it should. {mode_caption(settings)}")


def show_outputs() -> None:
    outputs = infra.read_outputs(settings)
    st.subheader("Deployed resources")
    st.caption(
        {
            "terraform": "From `terraform output -json` in terraform/aws and terraform/azure.",
            "local cloud": "From the local cloud's outputs (the same shape as `terraform output -json`).",
            "settings": "From the settings (MCV_* variables).",
        }[outputs.source]
    )
    for note in outputs.notes:
        st.info(note, icon=":material/info:")
    if outputs.aws or outputs.azure:
        st.dataframe(pd.DataFrame(outputs.rows()), hide_index=True, width="stretch")


def show_health() -> None:
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    left.subheader("Health")
    if right.button("Check again", icon=":material/refresh:", key="infrastructure.recheck"):
        st.session_state.pop("infrastructure.results", None)
    if "infrastructure.results" not in st.session_state:
        with st.spinner("Checking every resource at once…"):
            st.session_state["infrastructure.results"] = infra.run_checks(workbench)
    results: list[infra.CheckResult] = st.session_state["infrastructure.results"]
    counts = {status: sum(1 for r in results if r.status == status) for status in infra.STATUSES}
    st.caption(f"{counts['ok']} ok · {counts['warn']} warn · {counts['fail']} fail")
    for result in results:
        label, color, icon = BADGES[result.status]
        with st.container(border=True):
            head, badge = st.columns([5, 1])
            head.markdown(f"**{result.title}**")
            head.caption(f"checked: {result.checked} · {result.duration_ms:,.0f} ms")
            with badge:
                st.badge(label, color=color, icon=icon)
            st.text(result.detail)
            if result.fix and result.status != "ok":
                st.caption(f"Fix: {result.fix}")


@st.fragment(run_every=10)
def show_lambda_events() -> None:
    st.subheader("Recent uploads seen by the S3 event Lambda")
    st.caption("One structured log line per S3 record (last 24 hours, newest first); refreshed every 10 s.")
    try:
        events = infra.lambda_events(workbench)
    except MCVError as exc:
        st.warning(plain(exc.user_text()))
        return
    if not events:
        st.info("No events yet: upload an image on the Compare page.", icon=":material/info:")
        return
    columns = ["time", "outcome", "key", "size", "format", "width", "height", "duration_ms", "request_id", "error"]
    frame = pd.DataFrame(events)
    st.dataframe(frame[[c for c in columns if c in frame]], hide_index=True, width="stretch")


show_outputs()
show_health()
show_lambda_events()
