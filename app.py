"""Kurrant Lens: the router. Each page lives in pages/ and is UI only.

Icons are emoji: a Material icon as page or favicon makes the browser fetch it from Google's font
server, and the dashboard runs inside a company network without outside requests.
"""
from pathlib import Path

import streamlit as st

from app_support import LANGUAGE_KEY, auth_configured, require_sign_in, sign_in_sidebar, still_placeholders, t
from kurrant_core import ui_text

st.set_page_config(page_title="Kurrant Lens", page_icon="🍱", layout="wide")
still_placeholders()

st.sidebar.segmented_control(t("app.language"), list(ui_text.LANGUAGES), format_func=ui_text.LANGUAGES.get,
                             default=ui_text.DEFAULT_LANGUAGE, key=LANGUAGE_KEY, required=True,
                             bind="query-params")

_PAGES = [
    ("pages/overview.py", "nav.overview", "🏠"),
    ("pages/order_eda.py", "nav.order_eda", "📊"),
    ("pages/compare.py", "nav.compare", "⚖️"),
    ("pages/leaderboard.py", "nav.leaderboard", "🏆"),
    ("pages/retrain.py", "nav.retrain", "🔁"),
    ("pages/auto_order.py", "nav.auto_order", "🛒"),
]
_here = Path(__file__).parent
pages = [st.Page(path, title=t(title), icon=icon, default=(i == 0))
         for i, (path, title, icon) in enumerate(_PAGES) if (_here / path).exists()]
page = st.navigation(pages, position="sidebar" if not auth_configured() or st.user.is_logged_in else "hidden")
require_sign_in()          # with [auth] configured, only a sign-in button until one signs in
sign_in_sidebar()          # who acts: the signed-in e-mail, or the shared team password
page.run()
