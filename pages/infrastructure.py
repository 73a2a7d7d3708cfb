"""Infrastructure: what is deployed (Terraform outputs, or the local cloud's) and whether each part is healthy."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mcv_core import infra, pricing
from mcv_core.errors import MCVError
from mcv_core.services import registry
from mcv_core import formatting as fmt
from pages._shared import Column, get_workbench, mode_caption, plain, show_table

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
        show_table(pd.DataFrame(outputs.rows()), key="infrastructure.outputs", main=["output", "cloud", "value"], columns=OUTPUT_COLUMNS)


OUTPUT_COLUMNS = {
    "output": Column("name", "The output's name in Terraform", "Output"),
    "cloud": Column("text", "Where the resource is", "Cloud"),
    "value": Column("long", "Its value; sensitive values are masked. Hover a cell to read a long one whole.", "Value"),
}


BILLING = {"tokens": "per token", "compute": "compute time"}


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
    gb_second = pricing.sagemaker_price(settings.region).usd_per_gb_second
    for target in catalogue.targets:
        described = target.describe()
        rows.append(
            {
                "title": target.title,
                "id": target.id,
                "price": fmt.target_price(described, gb_second),
                "billing": BILLING.get(described["billing"], described["billing"]),
                "service": registry.get(target.service).service_title,
                "model": described["model_title"],
                "image rule": described["image_rule"],
                "model id": described["model"],
            }
        )
    show_table(
        pd.DataFrame(rows),
        key="infrastructure.targets",
        main=["title", "price", "service", "id"],
        columns=TARGET_COLUMNS,
    )


TARGET_COLUMNS = {
    "title": Column("name", "How the app names the target", "Target"),
    "id": Column("text", "The target's id: in history, on the command line, in MCV_TARGETS", "Id"),
    "price": Column(
        "text",
        "List price: input / output per million tokens (genai-prices or the catalogue), or compute per GB-second in "
        "this region (the classifier on SageMaker Serverless)",
        "List price",
    ),
    "billing": Column("text", "What the service bills for", "Billing"),
    "service": Column("text", "The cloud service that runs the model", "Service"),
    "model": Column("text", "The model's name", "Model"),
    "image rule": Column("text", "How the model counts an image's tokens", "Image rule"),
    "model id": Column("long", "What the service calls the model", "Model id"),
}


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
    st.caption(f"{fmt.count(counts['ok'])} ok · {fmt.count(counts['warn'])} warn · {fmt.count(counts['fail'])} fail")
    for result in results:
        label, color, icon = BADGES[result.status]
        with st.container(border=True):
            head, badge = st.columns([5, 1])
            head.markdown(f"**{plain(result.title)}**")
            head.caption(f"checked: {plain(result.checked)} · {fmt.duration_ms(result.duration_ms)}")
            with badge:
                st.badge(label, color=color, icon=icon)
            st.text(result.detail)
            if result.fix and result.status != "ok":
                st.caption(f"What to do: {plain(result.fix)}")


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
    frame = pd.DataFrame(events)
    if "time" in frame:  # ISO 8601 with microseconds and offset, as logged: to the second, in UTC
        when = pd.to_datetime(frame["time"], utc=True, errors="coerce", format="ISO8601")
        frame["time"] = [fmt.dash() if pd.isna(t) else f"{t:%Y-%m-%d %H:%M:%S}" for t in when]
    show_table(
        frame[[c for c in EVENT_COLUMNS if c in frame]],
        key="infrastructure.events",
        main=["time", "outcome", "key", "size", "duration_ms"],
        columns=EVENT_COLUMNS,
    )


EVENT_COLUMNS = {
    "time": Column("name", "When the Lambda handled the upload (UTC)", "Time (UTC)"),
    "outcome": Column("text", "What the Lambda made of the object", "Outcome"),
    "key": Column("long", "The object's key in the upload bucket (named by its SHA-256)", "Object key", width="medium"),
    "size": Column("count", "The object's size", "Size (bytes)"),
    "format": Column("text", "The image format the Lambda found", "Format"),
    "width": Column("count", "Width in pixels", "Width (px)"),
    "height": Column("count", "Height in pixels", "Height (px)"),
    "duration_ms": Column("ms", "How long the Lambda took for this record", "Duration (ms)"),
    "request_id": Column("long", "The Lambda invocation's request id", "Request id", width="medium"),
    "error": Column("text", "Why the object was rejected, if it was", "Error"),
}


show_outputs()
show_targets()
show_health()
show_lambda_events()
