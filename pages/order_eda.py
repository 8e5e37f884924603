"""Order EDA: what is ordered, by whom, and how concentrated it is.

UI only: the sidebar builds an ``OrderFilter`` (mirrored in the URL so a link reproduces the view),
every number comes from ``kurrant_core.eda`` through the cache in ``app_support``, every label from
``kurrant_core.ui_text``. The sections' own choices (Measure, Rank/By, the drill-down food) are bound
to the URL too.
"""
from __future__ import annotations

import math
from datetime import timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from app_support import cached_query, de_engine, friendly_errors, language, t
from kurrant_core import codes, columns as C, eda
from kurrant_core.db import check_ready
from kurrant_core.eda.labels import korean, measure_labels
from kurrant_core.eda.satisfaction import PRIOR_REVIEWS

URL = "query-params"
KPI_FORMAT = {  # value format, delta format
    C.N_ORDERS: ("{:,.0f}", "{:+,.0f}"), C.N_ITEMS: ("{:,.0f}", "{:+,.0f}"),
    C.N_USERS: ("{:,.0f}", "{:+,.0f}"), C.REVENUE: ("{:,.0f}만원", "{:+,.0f}만원"),
    C.ITEMS_PER_USER: ("{:.2f}", "{:+.2f}"), C.CANCEL_RATE: ("{:.1%}", "{:+.1%}"),
    C.AVG_SATISFACTION: ("{:.2f}", "{:+.2f}"),
}
KPIS_PER_ROW = 4                                  # two rows: every value fits at 1440 px (매출 was cut off)
RANKING_MEASURES = {"items": C.N_ITEMS, "revenue": C.REVENUE, "share": C.SHARE}
RANKED = {"food": (eda.top_foods, C.FOOD_NAME), "maker": (eda.top_makers, C.MAKERS_NAME),
          "category": (eda.top_categories, C.CUISINE_LABEL)}
TOP_N, DRILL_FOODS = 15, 500
TAB_KEY = "eda_tab"
WON_PER_MANWON = 10_000
MONEY = (C.REVENUE, C.UNIT_PRICE, C.PRICE)
WON_FORMAT = "%,d원"                              # Streamlit's printf-style format: "," groups thousands
L = measure_labels(language())
WIDE = {"variable": t("eda.series"), "value": t("eda.value")}     # plotly's names for wide-form columns
KPI_LABEL = {**L, C.REVENUE: t("eda.kpi_revenue")}             # the value carries its unit (만원)
DINING_ORDER = {C.DINING_LABEL: list(codes.DINING_TYPE.values())}    # same colour per meal everywhere
DAY_MS = 86_400_000
A_MONDAY = "2024-01-01"                          # tick0 of weekly axes (plotly's default is a Sunday)

st.title(t("eda.title"))
st.caption(t("eda.caption"))


def fmt(template: str, value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else template.format(value)


def csv_button(frame: pd.DataFrame, name: str) -> None:
    st.download_button(t("eda.csv"), frame.to_csv(index=False).encode("utf-8-sig"), file_name=f"{name}.csv",
                       mime="text/csv", key=f"eda_csv_{name}", icon=":material/download:")


def table(frame: pd.DataFrame, name: str) -> None:
    """A table under its catalogue headers; money in whole won with thousands separators (9,000원)."""
    headers = korean(frame.columns, language())
    money = {headers.get(c, c): st.column_config.NumberColumn(format=WON_FORMAT) for c in MONEY if c in frame.columns}
    st.dataframe(frame.rename(columns=headers), hide_index=True, column_config=money)
    csv_button(frame, name)


def chart(fig, name: str, data: pd.DataFrame) -> None:
    st.plotly_chart(fig, key=f"eda_fig_{name}")
    csv_button(data, name)


def q(fn, *args, **kwargs):
    """A cached ``kurrant_core.eda`` query for the current data version."""
    return cached_query(fn, *args, version=version, **kwargs)


# ------------------------------------------------------------------------------ data + filters
with friendly_errors():
    engine = de_engine()
    check_ready(engine)
    version = eda.data_version(engine)
    options = q(eda.filter_options)

def seed_widgets(f: eda.OrderFilter) -> None:
    """Put a filter into the sidebar widgets' state (before they are drawn)."""
    st.session_state.update(
        eda_dates=(f.start, f.end), eda_groups=list(f.group_ids), eda_spots=list(f.spot_ids),
        eda_dining=list(f.dining_types), eda_makers=list(f.makers_ids), eda_cuisines=list(f.cuisine_codes),
        eda_paid_only=f.paid_only, eda_filter=f)


def filter_from_widgets() -> eda.OrderFilter:
    """The filter the sidebar shows; a half-picked date range keeps the last complete one."""
    state, last = st.session_state, st.session_state.eda_filter
    dates = state.eda_dates
    start, end = dates if isinstance(dates, (tuple, list)) and len(dates) == 2 else (last.start, last.end)
    return eda.OrderFilter(start=start, end=end, group_ids=state.eda_groups, spot_ids=state.eda_spots,
                           dining_types=state.eda_dining, makers_ids=state.eda_makers,
                           cuisine_codes=state.eda_cuisines, paid_only=state.eda_paid_only)


if "eda_filter" not in st.session_state:      # first run of this session: the view comes from the URL
    requested = eda.OrderFilter.from_query_params(st.query_params.to_dict())
    seed_widgets(clean := options.sanitize(requested))
    asked = (requested.start or clean.start, requested.end or clean.end)
    if asked != (clean.start, clean.end):     # say so instead of clipping a shared link silently
        st.session_state.eda_clipped = t("eda.clipped", start=asked[0], end=asked[1], first=options.first_date,
                                         last=options.last_date, shown_start=clean.start, shown_end=clean.end)
elif "eda_dates" not in st.session_state:    # back from another page, which dropped these widgets' state:
    seed_widgets(options.sanitize(st.session_state.eda_filter))     # the view set before comes back
elif (clean := options.sanitize(filter_from_widgets())) != filter_from_widgets():
    seed_widgets(clean)                       # the data changed under the widgets (new preprocess)

with st.sidebar:
    st.header(t("eda.filters"))
    st.date_input(t("eda.dates"), key="eda_dates", min_value=options.first_date, max_value=options.last_date)
    st.multiselect(t("eda.groups"), list(options.groups), key="eda_groups", placeholder=t("eda.choose"),
                   format_func=options.groups.get)
    st.multiselect(t("eda.spots"), list(options.spots), key="eda_spots", placeholder=t("eda.choose"),
                   format_func=options.spots.get)
    st.multiselect(t("eda.dining"), list(options.dining_types), key="eda_dining", placeholder=t("eda.choose"),
                   format_func=options.dining_types.get)
    st.multiselect(t("eda.makers"), list(options.makers), key="eda_makers", placeholder=t("eda.choose"),
                   format_func=options.makers.get)
    st.multiselect(t("eda.cuisines"), list(options.cuisines), key="eda_cuisines", placeholder=t("eda.choose"),
                   format_func=options.cuisines.get)
    st.toggle(t("eda.paid_only"), key="eda_paid_only")

filt = st.session_state.eda_filter = options.sanitize(filter_from_widgets())
if st.session_state.get("eda_clipped"):
    st.warning(st.session_state.eda_clipped, icon="📅")
url = {k: v for k, v in st.query_params.to_dict().items() if k not in eda.QUERY_KEYS}   # e.g. the open tab
if st.query_params.to_dict() != {**url, **filt.to_query_params()}:
    st.query_params.from_dict({**url, **filt.to_query_params()})

# ------------------------------------------------------------------------------ KPIs
with friendly_errors():
    kpi = q(eda.kpi_table, filt)
if not kpi.loc[C.N_ITEMS, C.CURRENT]:
    st.info(t("eda.no_orders"))
    st.stop()

previous = filt.previous_period()
comparable = previous.start >= options.first_date     # no deltas against days before the data starts
st.caption(t("eda.period", start=filt.start, end=filt.end, n=filt.n_days) + (
    t("eda.vs", start=previous.start, end=previous.end) if comparable else t("eda.no_previous")))


def kpi_delta(name: str, change: float) -> str | None:
    """The change as text; none where there is nothing to compare or it rounds to zero (no red "↑ +0.0%")."""
    if not comparable or math.isnan(change):
        return None
    _, delta_fmt = KPI_FORMAT[name]
    text = fmt(delta_fmt, change)
    return None if text.lstrip("+-").strip("0.,%만원") == "" else text


for start in range(0, len(eda.KPI_ORDER), KPIS_PER_ROW):
    for column, name in zip(st.columns(KPIS_PER_ROW), eda.KPI_ORDER[start:start + KPIS_PER_ROW]):
        row = kpi.loc[name] / (WON_PER_MANWON if name == C.REVENUE else 1)
        if name == C.CANCEL_RATE and filt.paid_only:          # no cancellation among paid items, by definition
            column.metric(KPI_LABEL[name], "–", help=t("eda.cancel_paid_only"))
            continue
        column.metric(KPI_LABEL[name], fmt(KPI_FORMAT[name][0], row[C.CURRENT]), kpi_delta(name, row[C.CHANGE]),
                      delta_color="inverse" if name == C.CANCEL_RATE else "normal")


def day_axis(fig, filt: eda.OrderFilter):
    """Whole days on the x axis, also for a range of one day (plotly would zoom into its milliseconds)."""
    half_day = timedelta(hours=12)
    return fig.update_xaxes(type="date", tickformat="%m/%d", dtick=DAY_MS * max(1, filt.n_days // 10),
                            range=[pd.Timestamp(filt.start) - half_day, pd.Timestamp(filt.end) + half_day])


def week_axis(fig, filt: eda.OrderFilter, axis: str = "x"):
    """Weekly ticks on Mondays (the weeks' first day), whole weeks in view even for one week."""
    first = pd.Timestamp(filt.start - timedelta(days=filt.start.weekday()))
    last = pd.Timestamp(filt.end - timedelta(days=filt.end.weekday()))
    update = fig.update_xaxes if axis == "x" else fig.update_yaxes
    return update(type="date", tickformat="%m/%d", tick0=A_MONDAY, dtick=7 * DAY_MS,
                  range=[first - timedelta(days=3.5), last + timedelta(days=3.5)])

# ------------------------------------------------------------------------------ sections
def section_trends(filt: eda.OrderFilter) -> None:
    """Daily or weekly orders, one chart at a time (each Plotly chart costs a browser about half a
    second of CPU on a first paint; this is the tab a page opens on)."""
    left, right = st.columns(2)
    measure = left.segmented_control(t("eda.measure"), [C.N_ITEMS, C.N_ORDERS], format_func=L.get,
                                     default=C.N_ITEMS, key="eda_trend_measure", required=True, bind=URL)
    period = right.segmented_control(t("eda.period_unit"), list(TREND_PERIODS),
                                     format_func=lambda p: t(f"eda.period_unit.{p}"), default=DAILY,
                                     key="eda_trend_period", required=True, bind=URL)
    TREND_PERIODS[period](filt, measure)


def daily_chart(filt: eda.OrderFilter, measure: str) -> None:
    daily = q(eda.daily_orders, filt)
    fig = px.bar(daily, x=C.SERVICE_DATE, y=measure, color=C.DINING_LABEL, labels=L, category_orders=DINING_ORDER,
                 title=t("eda.daily_title"))
    for trace in px.line(daily, x=C.SERVICE_DATE, y=C.MOVING_AVG_7D, color=C.DINING_LABEL,
                         category_orders=DINING_ORDER).data:
        trace.update(name=t("eda.avg_suffix", name=trace.name), showlegend=True)
        fig.add_trace(trace)
    fig.update_traces(opacity=0.6, selector={"type": "bar"})          # keep the average lines visible
    chart(day_axis(fig, filt), "daily_orders", daily)


def weekly_chart(filt: eda.OrderFilter, measure: str) -> None:
    weekly = q(eda.weekly_orders, filt)
    chart(week_axis(px.bar(weekly, x=C.WEEK, y=measure, color=C.DINING_LABEL, labels=L,
                           category_orders=DINING_ORDER, title=t("eda.weekly_title")), filt),
          "weekly_orders", weekly)


DAILY, WEEKLY = "daily", "weekly"
TREND_PERIODS = {DAILY: daily_chart, WEEKLY: weekly_chart}


def section_weekday(filt: eda.OrderFilter) -> None:
    heat = q(eda.weekday_heatmap, filt)
    fig = px.density_heatmap(heat, x=C.WEEKDAY_LABEL, y=C.DINING_LABEL, z=C.N_ITEMS, histfunc="sum",
                             text_auto=True, labels=L, title=t("eda.weekday_title"),
                             category_orders={C.WEEKDAY_LABEL: list(codes.WEEKDAY.values()), **DINING_ORDER})
    chart(fig, "weekday_heatmap", heat)


def section_top(filt: eda.OrderFilter) -> None:
    left, right = st.columns(2)
    what = left.segmented_control(t("eda.rank"), list(RANKED), format_func=lambda w: t(f"eda.what.{w}"),
                                  default="food", key="eda_top_what", required=True, bind=URL)
    by_name = right.segmented_control(t("eda.by"), list(RANKING_MEASURES), format_func=lambda b: t(f"eda.by.{b}"),
                                      default="items", key="eda_top_by", required=True, bind=URL)
    by = RANKING_MEASURES[by_name]
    ranker, name_col = RANKED[what]
    rank_by = C.REVENUE if by == C.REVENUE else C.N_ITEMS
    top = (q(eda.top_foods, filt, n=DRILL_FOODS).head(TOP_N)        # shares the drill-down's query
           if ranker is eda.top_foods and rank_by == C.N_ITEMS else q(ranker, filt, n=TOP_N, by=rank_by))
    fig = px.bar(top, x=by, y=name_col, orientation="h", labels=L,
                 title=t("eda.top_title", what=t(f"eda.what.{what}"), by=t(f"eda.by.{by_name}")))
    fig.update_yaxes(autorange="reversed")
    if by == C.SHARE:
        fig.update_xaxes(tickformat=".0%")
    st.plotly_chart(fig, key="eda_fig_top")
    table(top, f"top_{name_col}")


def section_concentration(filt: eda.OrderFilter) -> None:
    lorenz = q(eda.lorenz_curve, filt)
    summary = eda.curve_summary(lorenz)
    a, b, c = st.columns(3)
    a.metric(L[C.GINI], fmt("{:.3f}", summary[C.GINI]))
    b.metric(L[C.TOP10_SHARE], fmt("{:.1%}", summary[C.TOP10_SHARE]))
    c.metric(L[C.N_FOODS], fmt("{:,.0f}", summary[C.N_FOODS]))
    fig = px.line(lorenz, x=C.FOOD_SHARE, y=C.ITEM_SHARE, labels=L, title=t("eda.lorenz_title"))
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name=t("eda.equality"), line={"dash": "dot"})
    chart(fig, "lorenz_curve", lorenz)
    weekly_conc = q(eda.weekly_concentration, filt)
    fig = px.line(weekly_conc, x=C.WEEK, y=[C.GINI, C.TOP10_SHARE], markers=True, labels={**L, **WIDE},
                  title=t("eda.weekly_conc_title"))
    fig.for_each_trace(lambda trace: trace.update(name=L[trace.name]))
    chart(week_axis(fig, filt), "weekly_concentration", weekly_conc)


def section_take_rate(filt: eda.OrderFilter) -> None:
    take = q(eda.menu_take_rate, filt)
    fig = px.scatter(take, x=C.TIMES_OFFERED, y=C.TAKE_RATE, size=C.N_ITEMS, hover_name=C.FOOD_NAME,
                     hover_data=[C.TIMES_CHOSEN, C.PICK_RATE], labels=L,
                     title=t("eda.take_title"))
    fig.update_yaxes(tickformat=".0%")
    st.plotly_chart(fig, key="eda_fig_take")
    table(take, "menu_take_rate")


def section_repeats(filt: eda.OrderFilter) -> None:
    gaps = q(eda.repeat_gaps, filt)
    shares = eda.repeat_shares(gaps)
    a, b = st.columns(2)
    a.metric(L[C.REPEAT_7D_SHARE], fmt("{:.1%}", shares[C.REPEAT_7D_SHARE]))
    b.metric(L[C.REPEAT_30D_SHARE], fmt("{:.1%}", shares[C.REPEAT_30D_SHARE]))
    distribution = eda.repeat_gap_distribution(gaps)
    chart(px.bar(distribution, x=C.DAYS_BETWEEN, y=C.N_REPEATS, labels=L,
                 title=t("eda.repeat_title")), "repeat_gaps", distribution)


def section_users(filt: eda.OrderFilter) -> None:
    per_user = q(eda.items_per_user, filt)
    chart(px.bar(per_user, x=C.N_ITEMS, y=C.N_USERS, labels=L, title=t("eda.per_user_title")),
          "items_per_user", per_user)
    weekly = q(eda.weekly_user_counts, filt)             # one query for both charts below
    new_old = eda.new_vs_returning_from(weekly)
    fig = px.bar(new_old, x=C.WEEK, y=[C.NEW_USERS, C.RETURNING_USERS], labels={**L, **WIDE},
                 title=t("eda.new_old_title"))
    fig.for_each_trace(lambda trace: trace.update(name=L[trace.name]))
    chart(week_axis(fig, filt), "new_vs_returning", new_old)
    cohorts = eda.cohort_retention_from(weekly)
    if cohorts.empty:
        st.info(t("eda.no_cohort"))
    else:
        fig = px.imshow(eda.retention_matrix(cohorts), text_auto=".0%", aspect="auto",
                        color_continuous_scale="Blues", labels={"x": L[C.WEEKS_SINCE],
                                                                "y": L[C.COHORT_WEEK], "color": L[C.RETENTION]},
                        title=t("eda.cohort_title"))
        fig.update_yaxes(type="category")              # cohort weeks as labels (Mondays), not a date axis
        fig.update_xaxes(type="category")
        chart(fig, "cohort_retention", cohorts)


def section_satisfaction(filt: eda.OrderFilter) -> None:
    by_category = q(eda.satisfaction_by_category, filt)
    chart(px.bar(by_category, x=C.CUISINE_LABEL, y=C.AVG_SATISFACTION, hover_data=[C.N_REVIEWS],
                 labels=L, title=t("eda.sat_category_title"), range_y=[1, 5]),
          "satisfaction_by_category", by_category)
    st.subheader(t("eda.sat_maker"))
    st.caption(t("eda.sat_maker_caption", m=PRIOR_REVIEWS))
    table(q(eda.satisfaction_by_maker, filt), "satisfaction_by_maker")
    prices = q(eda.price_distribution, filt)
    chart(px.bar(prices, x=C.UNIT_PRICE, y=C.N_ITEMS, labels=L, title=t("eda.price_title")),
          "price_distribution", prices)


def section_groups(filt: eda.OrderFilter) -> None:
    table(q(eda.group_comparison, filt), "group_comparison")


def section_drilldown(filt: eda.OrderFilter) -> None:
    foods = q(eda.top_foods, filt, n=DRILL_FOODS)                  # most ordered first
    names = dict(zip(foods[C.FOOD_ID], foods[C.FOOD_NAME]))
    food_id = st.selectbox(t("eda.food"), list(names), format_func=lambda f: f"{names[f]} (#{f})",
                           key="eda_drill_food", bind=URL)
    if food_id is not None:
        trend = q(eda.food_weekly_trend, filt, food_id)
        fig = px.line(trend, x=C.WEEK, y=[C.N_ITEMS, C.N_USERS], markers=True, labels={**L, **WIDE},
                      title=t("eda.food_trend", name=names[food_id]))
        chart(week_axis(fig.for_each_trace(lambda trace: trace.update(name=L[trace.name])), filt),
              "food_trend", trend)
        left, right = st.columns(2)
        with left:
            st.subheader(t("eda.food_groups"))
            table(q(eda.food_groups, filt, food_id), "food_groups")
        with right:
            reviews = q(eda.food_satisfaction, filt, food_id)
            chart(px.bar(reviews, x=C.SATISFACTION, y=C.N_REVIEWS, labels=L, title=t("eda.food_sat_title")),
                  "food_satisfaction", reviews)


# Only the open tab runs its queries (st.tabs with on_change="rerun"): a render pays for the KPIs and
# one section, not all ten. The open tab travels in the URL with the filters.
SECTIONS = {t("eda.tab.trends"): section_trends, t("eda.tab.weekday"): section_weekday,
            t("eda.tab.top"): section_top, t("eda.tab.concentration"): section_concentration,
            t("eda.tab.take_rate"): section_take_rate, t("eda.tab.repeats"): section_repeats,
            t("eda.tab.users"): section_users, t("eda.tab.satisfaction"): section_satisfaction,
            t("eda.tab.groups"): section_groups, t("eda.tab.drilldown"): section_drilldown}
for tab, render in zip(st.tabs(list(SECTIONS), key=TAB_KEY, on_change="rerun", bind="query-params"),
                       SECTIONS.values()):
    if tab.open:
        with tab, friendly_errors():
            render(filt)
