"""Overview: which DE database this is, how fresh it is, what it holds, which runs are active."""
import streamlit as st

from app_support import audit_section, de_engine, friendly_errors, masked_de_url, t
from kurrant_core import ui_text
from kurrant_core.overview import load_overview

st.title("Kurrant Lens")
st.caption(t("ov.caption", url=masked_de_url()))

with friendly_errors():
    ov = load_overview(de_engine())

st.subheader(t("ov.data"))
cols = st.columns(4)
cols[0].metric(t("ov.users"), f"{ov.counts['users']:,}")
cols[1].metric(t("ov.foods"), f"{ov.counts['foods']:,}")
cols[2].metric(t("ov.order_items"), f"{ov.counts['order items (mart)']:,}")
cols[3].metric(t("ov.paid_items"), f"{ov.paid_items:,}")
cols = st.columns(4)
cols[0].metric(t("ov.groups"), f"{ov.counts['groups']:,}")
cols[1].metric(t("ov.makers"), f"{ov.counts['makers']:,}")
cols[2].metric(t("ov.first_date"), ui_text.day(ov.first_service_date))
cols[3].metric(t("ov.last_date"), ui_text.day(ov.last_service_date))

st.subheader(t("ov.freshness"))
latest_order = ui_text.timestamp(ov.latest_order_at) if ov.latest_order_at else t('ov.none')
marts_built = ui_text.timestamp(ov.preprocessed_at) if ov.preprocessed_at else t('ov.never')
st.markdown(f"- {t('ov.latest_order')}: **{latest_order}**\n"
            f"- {t('ov.marts_built')}: **{marts_built}**")

st.subheader(t("ov.active_runs"))
if ov.active_runs.empty:
    st.info(t("ov.no_active"))
else:
    st.dataframe(ov.active_runs, hide_index=True)

st.subheader(t("ov.sync"))
if ov.sync_state.empty:
    st.info(t("ov.no_sync"))
else:
    st.dataframe(ov.sync_state, hide_index=True)

with st.expander(t("ov.all_counts")):
    st.table({t("ov.table"): list(ov.counts), t("ov.rows"): list(ov.counts.values())})

audit_section()                 # the latest writes: who retrained, activated, published, …
