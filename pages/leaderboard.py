"""Leaderboard: how the evaluated models rank on the same time split, and what diversity costs.

UI only, written for a PM: every metric with its plain name, one-line meaning and which way is
better, the baselines marked, each model's difference to the best baseline drawn with its interval,
and one verdict sentence per protocol (``kurrant_core.evaluation.readable``). Cold-start figures and
every other stored metric are folded away.
"""
import plotly.express as px
import streamlit as st

from app_support import de_engine, friendly_errors, language, t
from kurrant_core import columns as C, evaluation, ui_text
from kurrant_core.evaluation import names as N, readable
from kurrant_core.evaluation.leaderboard import interval_columns

PROTOCOL_TABS = {N.DAILY_MENU: "lb.tab.daily_menu", N.CATALOG: "lb.tab.catalog"}
WAY = {readable.HIGHER: ("↑", "lb.higher"), readable.LOWER: ("↓", "lb.lower"), readable.CONTEXT: ("", "lb.context")}
lang = language()


def metric_column(metric: str) -> st.column_config.NumberColumn:
    """A metric's column: its plain name with ↑/↓, and its meaning and direction as the help."""
    arrow, way = WAY[readable.direction(metric)]
    return st.column_config.NumberColumn(f"{ui_text.metric_name(metric, lang)} {arrow}".strip(), format="%.3f",
                                         help=f"{ui_text.metric_meaning(metric, lang)} · {t(way)}")


def board_config(columns: list[str], headline: str) -> dict:
    """Plain names for a board's columns; the interval columns named after the headline metric."""
    name = ui_text.metric_name(headline, lang)
    vs, diff, low, high, beats = interval_columns(headline)
    config = {C.MODEL: t("lb.model"), C.RUN_ID: t("lb.run"),
              N.BASELINE: st.column_config.CheckboxColumn(t("lb.baseline")),
              vs: t("lb.vs", metric=name),
              diff: st.column_config.NumberColumn(t("lb.diff_of", metric=name), format="%+.3f"),
              low: st.column_config.NumberColumn(t("lb.low"), format="%+.3f"),
              high: st.column_config.NumberColumn(t("lb.high"), format="%+.3f"),
              beats: st.column_config.CheckboxColumn(t("lb.beats"))}
    config.update({c: metric_column(c) for c in columns if c not in config})
    return config


def cost_config(columns: list[str]) -> dict:
    """``mrr off`` / ``mrr policy`` / ``mrr change`` as the metric's plain name and which variant."""
    config = {C.MODEL: t("lb.model"), N.POLICY: t("lb.policy")}
    for column in columns:
        metric, _, variant = column.rpartition(" ")
        if metric and variant in ("off", "policy", "change"):
            config[column] = st.column_config.NumberColumn(
                f"{ui_text.metric_name(metric, lang)} · {t(f'lb.cost.{variant}')}", format="%.3f",
                help=ui_text.metric_meaning(metric, lang))
    config["majority order days"] = st.column_config.NumberColumn(
        ui_text.metric_name("majority order days", lang), format="%.3f",
        help=ui_text.metric_meaning("majority order days", lang))
    return config


def interval_figure(intervals, metric: str):
    fig = px.scatter(intervals, x="diff", y=C.MODEL, color="status",
                     error_x=intervals["high"] - intervals["diff"], error_x_minus=intervals["diff"] - intervals["low"],
                     labels={"diff": t("lb.diff"), C.MODEL: t("lb.model"), "status": ""},
                     title=t("lb.interval_title", metric=ui_text.metric_name(metric, lang)),
                     color_discrete_map={readable.BEATS: "#2e7d32", readable.TIED: "#9e9e9e",
                                         readable.WORSE: "#c62828"})
    fig.update_traces(marker={"size": 12})
    fig.add_vline(x=0, line_dash="dot")
    fig.update_layout(showlegend=False, height=220 + 50 * len(intervals))
    return fig


st.title(t("lb.title"))
st.caption(t("lb.caption"))

with friendly_errors():
    splits = evaluation.evaluation_splits(de_engine())
if splits.empty:
    st.info(t("lb.no_eval"))
    st.stop()

labels = [t("lb.split_label", cutoff=row[C.DATA_CUTOFF], days=row[C.HORIZON_DAYS], k=row[N.K])
          for _, row in splits.iterrows()]
choice = st.selectbox(t("lb.split"), range(len(labels)), format_func=labels.__getitem__, key="lb_split")
cutoff, k = splits[C.DATA_CUTOFF].iloc[choice], int(splits[N.K].iloc[choice])

for tab, protocol in zip(st.tabs([t(key) for key in PROTOCOL_TABS.values()]), PROTOCOL_TABS):
    with tab, friendly_errors():
        board = evaluation.leaderboard(de_engine(), protocol, cutoff=cutoff)
        headline = evaluation.headline_keys(protocol, k)[0]
        sentence = readable.verdict(board, headline, lang)
        if evaluation.models_beating_baselines(board, headline):
            st.success(sentence)
        else:
            st.warning(sentence)
        st.caption(t("lb.baselines", metric=ui_text.metric_name(headline, lang)))
        intervals = readable.interval_frame(board, headline)
        if not intervals.empty:
            st.plotly_chart(interval_figure(intervals, headline), key=f"lb_interval_{protocol}")
        interval = evaluation.summary_columns(board, protocol, k)
        shown = [c for c in interval if not c.startswith(N.COLD) and c not in (C.RUN_ID, N.FIT_CPU_SECONDS)]
        st.dataframe(readable.summary_frame(board, shown, headline), hide_index=True,
                     column_config=board_config(shown, headline))
        cold = readable.cold_metrics(board)
        if cold:
            with st.expander(t("lb.cold")):
                st.caption(t("lb.cold_caption"))
                st.dataframe(board[[C.MODEL, *cold]], hide_index=True, column_config=board_config(cold, headline))
        with st.expander(t("lb.every_metric")):
            st.dataframe(board, hide_index=True)

st.subheader(t("lb.cost"))
st.caption(t("lb.cost_caption"))
with friendly_errors():
    costs = evaluation.policy_costs(de_engine(), cutoff=cutoff)
if costs.empty:
    st.info(t("lb.no_policy"))
else:
    st.dataframe(costs, hide_index=True, column_config=cost_config(list(costs.columns)))

st.subheader(t("lb.tradeoff"))
st.caption(t("lb.tradeoff_caption"))
with friendly_errors():
    curves = evaluation.tradeoff_curves(de_engine(), cutoff=cutoff)
if curves.empty:
    st.info(t("lb.no_tradeoff"))
else:
    chart = px.line(curves, x=N.ILD, y=N.NDCG, color=C.MODEL, markers=True,
                    hover_data=[C.MMR_LAMBDA, C.RUN_ID],
                    labels={N.ILD: ui_text.metric_name(N.ILD, lang),
                            N.NDCG: ui_text.metric_name(N.at_k(N.NDCG, k), lang), C.MODEL: t("lb.model")})
    st.plotly_chart(chart, width="stretch")
