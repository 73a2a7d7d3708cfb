"""MC Vision: the router. Pages live in pages/; logic lives in mcv_core/."""

import streamlit as st

st.set_page_config(page_title="MC Vision", page_icon=":material/compare:", layout="wide")

st.navigation(
    [
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:", default=True),
    ]
).run()
