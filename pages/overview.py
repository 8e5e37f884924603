"""Overview: which DE database this is, how fresh it is, what it holds, which runs are active."""
import streamlit as st

from app_support import de_engine, friendly_errors, masked_de_url
from kurrant_core.overview import load_overview

st.title("Kurrant Lens")
st.caption(f"DE database: `{masked_de_url()}` — the dashboard never reads production.")

with friendly_errors():
    ov = load_overview(de_engine())

st.subheader("Data")
cols = st.columns(4)
cols[0].metric("Users", f"{ov.counts['users']:,}")
cols[1].metric("Foods", f"{ov.counts['foods']:,}")
cols[2].metric("Order items", f"{ov.counts['order items (mart)']:,}")
cols[3].metric("Paid items", f"{ov.paid_items:,}")
cols = st.columns(4)
cols[0].metric("Groups", f"{ov.counts['groups']:,}")
cols[1].metric("Makers", f"{ov.counts['makers']:,}")
cols[2].metric("First service date", str(ov.first_service_date))
cols[3].metric("Last service date", str(ov.last_service_date))

st.subheader("Freshness")
st.markdown(f"- Latest order: **{ov.latest_order_at or 'none'}**\n"
            f"- Marts last built: **{ov.preprocessed_at or 'never'}**")

st.subheader("Active recommendation runs")
if ov.active_runs.empty:
    st.info("No active run yet. Train one on the *Retrain & runs* page or with "
            "`python -m kurrant_core train --model hybrid`.")
else:
    st.dataframe(ov.active_runs, hide_index=True)

st.subheader("Sync from production")
if ov.sync_state.empty:
    st.info("No sync has run against this DE database (demo data is generated locally). "
            "Run `python -m kurrant_core sync --source URL` to copy from production.")
else:
    st.dataframe(ov.sync_state, hide_index=True)

with st.expander("All counts"):
    st.table({"table": list(ov.counts), "rows": list(ov.counts.values())})
