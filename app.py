"""Kurrant Lens: the router. Each page lives in pages/ and is UI only."""
from pathlib import Path

import streamlit as st

st.set_page_config(page_title="Kurrant Lens", page_icon="🍱", layout="wide")

_PAGES = [
    ("pages/overview.py", "Overview", "🏠"),
    ("pages/order_eda.py", "Order EDA", "📊"),
    ("pages/compare.py", "Compare recommendations", "🧭"),
    ("pages/retrain.py", "Retrain & runs", "🛠️"),
]
_here = Path(__file__).parent
pages = [st.Page(path, title=title, icon=icon, default=(i == 0))
         for i, (path, title, icon) in enumerate(_PAGES) if (_here / path).exists()]
st.navigation(pages).run()
