"""Compare: upload images, pick targets (models) and a prompt, see every target's answer side by side."""

from __future__ import annotations

import streamlit as st

from mcv_core import formatting as fmt
from mcv_core.errors import MCVError
from mcv_core.images import SourceImage, safe_name
from mcv_core.records import ProviderResult, Run, TextDelta
from pages._shared import StreamingCard, download_report, get_workbench, mode_caption, plain, render_result
from pages._shared import result_title, target_title

workbench = get_workbench()
settings = workbench.settings

st.title("Compare")
st.caption(f"Every selected model answers on the same image at the same time. {mode_caption(settings)}")

with st.container(border=True):
    files = st.file_uploader(
        "Images (JPEG, PNG, WebP or GIF)",
        accept_multiple_files=True,
        key="compare.files",
        help=f"Up to {settings.max_image_mb:g} MB and {settings.max_pixels / 1e6:g} megapixels each.",
    )
    chosen = st.pills(
        "Models",
        options=workbench.catalogue.ids,
        format_func=target_title,
        selection_mode="multi",
        default=workbench.enabled,
        key="compare.targets",
        help=f"The targets of the catalogue ({workbench.catalogue.source_text}): each one a model on a service.",
    )
    prompt = st.text_area(
        "Prompt",
        value=settings.default_prompt,
        max_chars=2000,
        height=80,
        key="compare.prompt",
        help="Sent to the language models; the image classifier ignores it and returns its top labels.",
    )
    missing = [what for what, given in (("an image", files), ("a model", chosen), ("a prompt", prompt.strip())) if not given]
    with st.container(horizontal=True, vertical_alignment="center"):
        go = st.button(
            "Compare",
            type="primary",
            icon=":material/play_arrow:",
            disabled=bool(missing),
            key="compare.go",
        )
        if missing:
            st.caption(f"To compare, choose {', '.join(missing[:-1]) + ' and ' if len(missing) > 1 else ''}{missing[-1]}.")


def show_image_header(image: SourceImage, run: Run | None) -> None:
    left, right = st.columns([1, 4])
    left.image(image.pixels, width="stretch")  # decoded, oriented RGB: any source mode shows (16-bit, CMYK)
    facts = [f"{image.width}×{image.height} {image.format}", f"{fmt.count(image.size_bytes / 1024)} KB"]
    if run is not None:
        facts.append(f"side by side in {fmt.duration_ms(run.wall_ms)}")
        facts.append(f"run {run.run_id}")
    right.markdown(f"**{plain(image.name)}**")
    right.caption(" · ".join(facts))
    if run is not None and run.image_key:
        right.caption(f"stored as s3://{settings.upload_bucket}/{run.image_key}")


CARDS_PER_ROW = 3  # more cards side by side cut their figures short, even on a wide screen


def card_columns(count: int) -> list:
    """A column per card, in balanced rows of at most CARDS_PER_ROW (5 cards: 3 + 2), every column as wide."""
    rows = -(-count // CARDS_PER_ROW)
    per_row = -(-count // rows) if count else 1
    columns: list = []
    for _ in range(rows):
        columns.extend(st.columns(per_row))
    return columns[:count]


def show_save_notice(run: Run) -> None:
    """Under a run whose results went to the local outbox: they are shown, kept, and not yet in History."""
    if run.deferred and run.saved is not None:
        st.warning(
            f"These results are not in History yet: the results table could not be written ({plain(run.saved.error)}). "
            "They are kept in the local outbox and written automatically, once each, when the table is reachable "
            "again; nothing is lost.",
            icon=":material/cloud_off:",
        )


def run_all() -> list[tuple[str, Run | str]]:
    """Compare every uploaded file; each file's outcome is its run or one error line."""
    names = list(chosen)
    outcomes: list[tuple[str, Run | str]] = []
    total = len(files) * len(names)
    done = 0
    progress = st.progress(0.0, text="Starting…")
    for index, upload in enumerate(files):
        try:
            image = workbench.load_image(upload.getvalue(), upload.name)
        except MCVError as exc:
            name = safe_name(upload.name)  # the browser's file name: path parts and control characters removed
            outcomes.append((name, exc.user_text()))
            st.error(plain(exc.user_text()), icon=":material/broken_image:")  # the message names the file
            done += len(names)
            progress.progress(done / total, text=f"{fmt.count(done)} of {fmt.count(total, 'answer')}")
            continue
        st.divider()
        header = st.empty()
        with header.container():
            show_image_header(image, None)
        slots = {}
        streaming: dict[str, StreamingCard] = {}
        for name, column in zip(names, card_columns(len(names))):
            slots[name] = column.empty()
            streaming[name] = StreamingCard(slots[name], name, workbench.catalogue.get(name).model_ref, f"{index}.{name}")

        def on_text(delta: TextDelta) -> None:
            # On this script's thread, as each delta arrives: the card's text element is replaced, nothing else.
            card = streaming[delta.provider]
            first = not card.started
            card.show(delta)
            if first:
                progress.progress(
                    done / total,
                    text=f"{fmt.count(done)} of {fmt.count(total, 'answer')} · {plain(target_title(delta.provider))} writing…",
                )

        def on_result(result: ProviderResult) -> None:
            nonlocal done
            done += 1
            progress.progress(
                done / total, text=f"{fmt.count(done)} of {fmt.count(total, 'answer')} · {plain(result_title(result))} finished"
            )
            with slots[result.provider].container():
                render_result(result, f"{index}.{result.provider}")

        try:
            run = workbench.compare(image, names, prompt, source="ui", on_result=on_result, on_text=on_text)
        except MCVError as exc:
            outcomes.append((image.name, exc.user_text()))
            st.error(plain(exc.user_text()), icon=":material/error:")
            continue
        with header.container():
            show_image_header(image, run)
            show_save_notice(run)
        outcomes.append((image.name, run))
    progress.empty()
    return outcomes


if go:
    # Drawn live as each target finishes; kept so that the next rerun draws the same page.
    st.session_state["compare.outcomes"] = run_all()
    compared = [outcome for _, outcome in st.session_state["compare.outcomes"] if isinstance(outcome, Run)]
    if compared:
        st.divider()
        download_report(compared, title="MC Vision comparison", key="compare.report")
    st.stop()

for index, (name, outcome) in enumerate(st.session_state.get("compare.outcomes", [])):
    st.divider()
    if isinstance(outcome, str):
        st.error(plain(outcome), icon=":material/broken_image:")
        continue
    show_image_header(outcome.image, outcome)
    show_save_notice(outcome)
    for column, result in zip(card_columns(len(outcome.results)), outcome.results):
        with column:
            render_result(result, f"{index}.{result.provider}")

runs = [outcome for _, outcome in st.session_state.get("compare.outcomes", []) if isinstance(outcome, Run)]
if runs:
    st.divider()
    download_report(runs, title="MC Vision comparison", key="compare.report")
