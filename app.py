"""Kurrant Lens: the router. Each page lives in pages/ and is UI only."""
from pathlib import Path

import streamlit as st

st.set_page_config(page_title="Kurrant Lens", page_icon=":material/lunch_dining:", layout="wide")

_PAGES = [
    ("pages/overview.py", "Overview", ":material/home:"),
    ("pages/order_eda.py", "Order EDA", ":material/bar_chart:"),
    ("pages/compare.py", "Compare recommendations", ":material/compare:"),
    ("pages/leaderboard.py", "Leaderboard", ":material/leaderboard:"),
    ("pages/retrain.py", "Retrain & runs", ":material/model_training:"),
]
_here = Path(__file__).parent
pages = [st.Page(path, title=title, icon=icon, default=(i == 0))
         for i, (path, title, icon) in enumerate(_PAGES) if (_here / path).exists()]
st.navigation(pages).run()
