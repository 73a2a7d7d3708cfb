"""What every table of the app must be: titled and explained columns, no raw None or NaN, no internal names."""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd

from mcv_core import formatting as fmt

RAW = {"none", "nan", "nat", "<na>", "null"}
ZERO_COST = re.compile(r"\$0\.000000(?!\d)")  # "$0.000000": rounded to zero ("$0.00000094" is fine)


def shown_columns(table: Any) -> list[str]:
    order = list(table.proto.column_order)
    return order or [str(c) for c in table.value.columns]


def assert_table_configured(table: Any) -> None:
    """One st.dataframe: every shown column has a title (not its internal name) and a help text; no shown cell is
    None, NaN or the text "None"/"nan"; a number that is missing is drawn as the placeholder, a dash."""
    frame: pd.DataFrame = table.value
    config = json.loads(table.proto.columns or "{}")
    columns = shown_columns(table)
    assert columns, "a table that shows no column"
    for name in columns:
        entry = config.get(name)
        assert entry is not None, f"column {name!r} has no column configuration: {sorted(config)}"
        label = entry.get("label") or ""
        assert label and label != name and "_" not in label, f"column {name!r} is titled {label!r}"
        assert entry.get("help"), f"column {name!r} ({label}) has no help text"
        values = frame[name]
        kind = (entry.get("type_config") or {}).get("type")
        if kind in ("number", "progress"):
            if values.isna().any():
                assert table.proto.placeholder == fmt.DASH, f"{label}: missing numbers with no dash placeholder"
            continue
        for value in values.astype(object):
            assert not fmt.missing(value), f"{label}: a missing cell {value!r}"
            text = str(value)
            assert text.strip().lower() not in RAW, f"{label}: the cell {text!r}"
            assert not ZERO_COST.search(text), f"{label}: money rounded to zero: {text!r}"


def assert_tables_configured(at: Any) -> int:
    """Every table on the page (AppTest); how many there were."""
    for table in at.dataframe:
        assert_table_configured(table)
    return len(at.dataframe)
