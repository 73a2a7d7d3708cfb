"""Infrastructure: what is deployed (Terraform outputs, or the local cloud's) and whether each part is healthy."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import botocore.exceptions as bce
import pandas as pd
import streamlit as st

from mcv_core import alarms, charts, infra, pricing
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


ALARMS_TTL_S = 30  # alarm states and metrics are read again after this (the section refreshes itself as often)
ALARM_BADGES = {
    "ALARM": ("red", ":material/notifications_active:"),
    "OK": ("green", ":material/check_circle:"),
    "INSUFFICIENT_DATA": ("gray", ":material/help:"),
}


@st.cache_data(ttl=ALARMS_TTL_S, show_spinner=False)
def read_alarms() -> dict[str, Any]:
    """Every alarm's status and its metric over the last hour, and what could not be read: {"alarms", "series",
    "error", "series_error", "read_at"}. Failures are returned, not raised, so that they are cached too."""
    out: dict[str, Any] = {"alarms": [], "series": {}, "error": None, "series_error": None, "read_at": datetime.now(timezone.utc)}
    try:
        out["alarms"] = alarms.ordered(alarms.status(workbench), workbench.catalogue.title)
    except (bce.ClientError, bce.BotoCoreError) as exc:
        out["error"] = f"CloudWatch did not list the alarms ({type(exc).__name__}: {exc})"
        return out
    if out["alarms"]:
        try:
            out["series"] = alarms.metric_series(workbench, now=out["read_at"])
        except (bce.ClientError, bce.BotoCoreError, ValueError) as exc:
            out["series_error"] = f"CloudWatch did not give the alarms' metrics ({type(exc).__name__}: {exc})"
    return out


def _changes(alarm: alarms.AlarmStatus) -> str:
    lines = [
        f"- {plain(c.timestamp.replace('T', ' ').replace('+00:00', ''))} UTC: {fmt.alarm_state(c.old_state) if c.old_state else fmt.DASH} "
        f"→ **{fmt.alarm_state(c.new_state)}**. {plain(fmt.shorten(c.reason, 200))}"
        for c in alarm.changes
    ]
    return "\n".join(lines)


def _when(iso: str, now: datetime) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso or fmt.DASH
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({fmt.ago(moment, now)})"


def show_alarm(alarm: alarms.AlarmStatus, series: alarms.MetricSeries | None, now: datetime) -> None:
    """One alarm as a card: what it watches and why it is in its state on the left, its metric on the right (the
    columns stack on a narrow screen)."""
    with st.container(border=True):
        words, chart = st.columns([3, 2])
        with words:
            head, badge = st.columns([3, 1])
            head.markdown(f"**{plain(alarms.title(alarm.name, workbench.catalogue.title))}**")
            color, icon = ALARM_BADGES.get(alarm.state, ("gray", ":material/help:"))
            with badge:
                st.badge(fmt.alarm_state(alarm.state), color=color, icon=icon)
            st.caption(f"{plain(alarm.name)} · state since {_when(alarm.updated, now)}")
            if series is not None:
                condition = fmt.alarm_condition(
                    series.comparison_operator, series.threshold, series.unit, series.datapoints_to_alarm,
                    series.evaluation_periods, series.period_s, series.treat_missing_data,
                )  # fmt: skip
                st.markdown(f"Alarms when {plain(series.metric_name)} ({plain(series.statistic)}) is {plain(condition)}.")
            else:
                st.markdown(f"Alarms when {plain(alarm.threshold)}.")
            about = series.description if series is not None and series.description else ""
            st.caption(plain(f"{about} Metric: {alarm.metric}".strip()))
            if alarm.state == "ALARM":
                st.error(plain(alarm.reason), icon=":material/notifications_active:")
            elif alarm.reason:
                st.caption(f"Why: {plain(fmt.shorten(alarm.reason, 300))}")
            if alarm.changes:
                with st.expander(f"Recent state changes ({len(alarm.changes)})"):
                    st.markdown(_changes(alarm))
            else:
                st.caption("No state change recorded yet.")
        with chart:
            if series is None:
                st.caption("No chart: the alarm is not on a single metric, or its metric could not be read.")
            else:
                st.plotly_chart(
                    charts.alarm_metric(series, f"{series.metric_name} ({series.statistic}) per {fmt.period_text(series.period_s)}, last hour (UTC)"),
                    key=f"infrastructure.alarm.{alarm.name}",
                    width="stretch",
                    config={"displayModeBar": False},
                )


@st.fragment(run_every=ALARMS_TTL_S)
def show_alarms() -> None:
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    left.subheader("Alarms")
    if right.button("Read again", icon=":material/refresh:", key="infrastructure.alarms.refresh"):
        read_alarms.clear()
    with st.spinner("Reading the alarms…"):
        found = read_alarms()
    where = "the local cloud's CloudWatch" if settings.is_local else f"CloudWatch ({settings.region})"
    if found["error"]:
        st.error(plain(found["error"]), icon=":material/error:")
        st.caption("What to do: check the health above" + (" and `python -m mcv_core local status`." if settings.is_local else " and the AWS credentials."))
        return
    statuses: list[alarms.AlarmStatus] = found["alarms"]
    if not statuses:
        st.info(
            f"No alarms named {alarms.PREFIX}-\\* in {where}. In the local cloud, `python -m mcv_core local provision` "
            "puts them (one error-rate and one p95-latency alarm per enabled target); in the cloud, apply terraform/aws, "
            "whose alarms module creates them.",
            icon=":material/info:",
        )
        return
    read_at: datetime = found["read_at"]
    in_alarm = sum(1 for a in statuses if a.state == "ALARM")
    st.caption(
        f"{fmt.count(len(statuses), 'alarm')} in {where}: {in_alarm} in alarm, "
        f"{sum(1 for a in statuses if a.state == 'OK')} ok, {sum(1 for a in statuses if a.state == 'INSUFFICIENT_DATA')} without data. "
        f"Read at {read_at:%H:%M:%S} UTC; read again every {ALARMS_TTL_S} s. Alarms in alarm first."
    )
    if found["series_error"]:
        st.warning(plain(found["series_error"]), icon=":material/warning:")
    for alarm in statuses:
        show_alarm(alarm, found["series"].get(alarm.name), read_at)


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
show_alarms()
show_lambda_events()
