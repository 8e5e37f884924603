"""Leaderboard: how the evaluated models rank on the same time split, and what diversity costs."""
import plotly.express as px
import streamlit as st

from app_support import de_engine, friendly_errors
from kurrant_core import columns as C
from kurrant_core import evaluation
from kurrant_core.evaluation import names as N

PROTOCOL_TABS = {N.DAILY_MENU: "Daily menu (the AI pick)", N.CATALOG: "Catalog"}

st.title("Leaderboard")
st.caption("Each model is trained on orders before a cutoff T and judged on the orders of the days "
           "after it. Daily menu: where the food each user chose landed in that day's ranked menu. "
           "Catalog: every food on sale ranked once per user, against the foods they ordered.")

with friendly_errors():
    splits = evaluation.evaluation_splits(de_engine())
if splits.empty:
    st.info("No model has been evaluated on this DE database yet. Run "
            "`python -m kurrant_core evaluate --models all` (or pick models, e.g. "
            "`--models popularity,als,hybrid`), then reload this page.")
    st.stop()

labels = [f"cutoff {row[C.DATA_CUTOFF]} · {row[C.HORIZON_DAYS]} test days · k = {row[N.K]}"
          for _, row in splits.iterrows()]
choice = st.selectbox("Split", range(len(labels)), format_func=labels.__getitem__, key="lb_split")
cutoff, k = splits[C.DATA_CUTOFF].iloc[choice], int(splits[N.K].iloc[choice])

for tab, protocol in zip(st.tabs(list(PROTOCOL_TABS.values())), PROTOCOL_TABS):
    with tab, friendly_errors():
        board = evaluation.leaderboard(de_engine(), protocol, cutoff=cutoff)
        headline = evaluation.headline_keys(protocol, k)[0]
        st.caption(f"Baselines (marked): popularity, each user's own history, a random ranking "
                   f"(its expectation). '{headline} diff / low / high' is the model's difference to "
                   f"the best baseline ('{headline} vs') with its paired bootstrap 95 % interval "
                   "(users resampled); a model beats the baselines only when 'low' is above 0.")
        winners = evaluation.models_beating_baselines(board, headline)
        if winners:
            st.success(f"Beat every baseline on {headline}: {', '.join(winners)}")
        else:
            st.warning(f"No model beats the best baseline on {headline} with the interval above 0.")
        st.dataframe(board[evaluation.summary_columns(board, protocol, k)], hide_index=True,
                     column_config={N.BASELINE: st.column_config.CheckboxColumn("baseline")})
        with st.expander("Every stored metric"):
            st.dataframe(board, hide_index=True)

st.subheader("What the diversity policy costs")
st.caption("Each model without and with the policy its runs ship: accuracy given up (change < 0), "
           "calibration error (lower = closer to each user's cuisine mix), category coverage, and the "
           "share of group-days on which one food was the pick of the day for more than half of the "
           "group, against the share on which one food took more than half of the actual orders.")
with friendly_errors():
    costs = evaluation.policy_costs(de_engine(), cutoff=cutoff)
if costs.empty:
    st.info("These runs were evaluated without a policy (`--policy off`).")
else:
    st.dataframe(costs, hide_index=True)

st.subheader("Accuracy vs diversity")
st.caption("MMR re-ranking of each model's top catalog candidates for a sample of test users: "
           "lambda = 1 is the model's own order, lambda = 0 diversity alone. "
           "Up and to the right is better.")
with friendly_errors():
    curves = evaluation.tradeoff_curves(de_engine(), cutoff=cutoff)
if curves.empty:
    st.info("These runs were evaluated without the trade-off curve (`--no-tradeoff`).")
else:
    chart = px.line(curves, x=N.ILD, y=N.NDCG, color=C.MODEL, markers=True,
                    hover_data=[C.MMR_LAMBDA, C.RUN_ID],
                    labels={N.ILD: "intra-list diversity", N.NDCG: f"NDCG@{k}"})
    st.plotly_chart(chart, width="stretch")
