"""Infrastructure: what is deployed (Terraform outputs, or the local cloud's) and whether each part is healthy."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mcv_core import infra
from mcv_core.errors import MCVError
from mcv_core.services import registry
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


BILLING = {"tokens": "per token", "compute": "compute time"}


def price_text(described: dict) -> str:
    """USD per million tokens in / out, or why there is no such price."""
    if described["billing"] == "compute":
        return "per GB-second (list price)"
    if described["input_usd_per_mtok"] is None:
        return "price unknown"
    return f"{usd(described['input_usd_per_mtok'])} in / {usd(described['output_usd_per_mtok'])} out"


def usd(value: float) -> str:
    """$0.25, $15.00, $0.035: cents at least, and the digits a small price needs."""
    whole, _, cents = f"{value:,.4f}".rstrip("0").partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def show_targets() -> None:
    catalogue = workbench.catalogue
    st.subheader("Targets")
    st.caption(
        f"The models this app compares: each target is one model on one service. Read from {plain(catalogue.source_text)}. "
        + (
            f"Selected by default (MCV_TARGETS): {plain(', '.join(catalogue.title(t) for t in workbench.enabled))}."
            if workbench.enabled != catalogue.ids
            else ""
        )
    )
    rows = []  # price before the long columns: a narrow screen scrolls the table sideways
    for target in catalogue.targets:
        described = target.describe()
        rows.append(
            {
                "title": target.title,
                "id": target.id,
                "price (USD per million tokens)": price_text(described),
                "billing": BILLING.get(described["billing"], described["billing"]),
                "service": registry.get(target.service).service_title,
                "model": described["model_title"],
                "image rule": described["image_rule"],
                "model id": described["model"],
            }
        )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        key="infrastructure.targets",
        column_config={
            "title": st.column_config.TextColumn("title", help="How the app names the target"),
            "id": st.column_config.TextColumn(
                "id", help="The target's id: in history, on the command line, in MCV_TARGETS"
            ),
            "image rule": st.column_config.TextColumn("image rule", help="How the model counts an image's tokens"),
            "model id": st.column_config.TextColumn("model id", help="What the service calls the model"),
            "price (USD per million tokens)": st.column_config.TextColumn(
                "price (USD per million tokens)", help="Input / output, from genai-prices or the catalogue"
            ),
        },
    )


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
show_targets()
show_health()
show_lambda_events()
