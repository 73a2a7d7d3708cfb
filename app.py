"""MC Vision: the router. Pages live in pages/; logic lives in mcv_core/."""

import streamlit as st

# A local file: a material icon here would make the browser fetch the favicon from the internet.
st.set_page_config(page_title="MC Vision", page_icon="assets/icon.png", layout="wide")

st.navigation(
    [
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:", default=True),
        st.Page("pages/history.py", title="History", icon=":material/monitoring:"),
        st.Page("pages/benchmark.py", title="Benchmark", icon=":material/speed:"),
        st.Page("pages/scorecard.py", title="Scorecard", icon=":material/leaderboard:"),
        st.Page("pages/arena.py", title="Arena", icon=":material/how_to_vote:"),
        st.Page("pages/infrastructure.py", title="Infrastructure", icon=":material/dns:"),
    ],
    # At the top, not in a sidebar: a 1024 px screen keeps its whole width for the cards and tables.
    position="top",
).run()
