"""Order EDA: what is ordered, by whom, and how concentrated it is.

UI only: the sidebar builds an ``OrderFilter`` (mirrored in the URL so a link reproduces the view),
every number comes from ``kurrant_core.eda`` through the cache in ``app_support``.
"""
from __future__ import annotations

import math

import pandas as pd
import plotly.express as px
import streamlit as st

from app_support import cached_query, de_engine, friendly_errors
from kurrant_core import codes, columns as C, eda
from kurrant_core.db import check_ready
from kurrant_core.eda.labels import MEASURE_LABEL as L, korean

NO_ORDERS = "No orders match these filters. Widen the date range or clear some filters."
KPI_FORMAT = {  # value format, delta format
    C.N_ORDERS: ("{:,.0f}", "{:+,.0f}"), C.N_ITEMS: ("{:,.0f}", "{:+,.0f}"),
    C.N_USERS: ("{:,.0f}", "{:+,.0f}"), C.REVENUE: ("{:,.1f}만원", "{:+,.1f}만원"),
    C.ITEMS_PER_USER: ("{:.2f}", "{:+.2f}"), C.CANCEL_RATE: ("{:.1%}", "{:+.1%}"),
    C.AVG_SATISFACTION: ("{:.2f}", "{:+.2f}"),
}
RANKING_MEASURES = {"수량": C.N_ITEMS, "매출": C.REVENUE, "비중": C.SHARE}
TOP_N, DRILL_FOODS = 15, 500
TAB_KEY = "eda_tab"
WON_PER_MANWON = 10_000
KPI_LABEL = {**L, C.REVENUE: "매출"}             # the value carries its unit (만원)
DINING_ORDER = {C.DINING_LABEL: list(codes.DINING_TYPE.values())}    # same colour per meal everywhere
DAY_MS = 86_400_000

st.title("Order EDA")
st.caption("What is ordered, by whom, and how concentrated it is — every figure follows the sidebar filters.")


def fmt(template: str, value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else template.format(value)


def csv_button(frame: pd.DataFrame, name: str) -> None:
    st.download_button("CSV", frame.to_csv(index=False).encode("utf-8-sig"), file_name=f"{name}.csv",
                       mime="text/csv", key=f"eda_csv_{name}", icon=":material/download:")


def table(frame: pd.DataFrame, name: str) -> None:
    st.dataframe(frame.rename(columns=korean(frame.columns)), hide_index=True)
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
    seed_widgets(options.sanitize(eda.OrderFilter.from_query_params(st.query_params.to_dict())))
elif (clean := options.sanitize(filter_from_widgets())) != filter_from_widgets():
    seed_widgets(clean)                       # the data changed under the widgets (new preprocess)

with st.sidebar:
    st.header("Filters")
    st.date_input("Service dates", key="eda_dates", min_value=options.first_date, max_value=options.last_date)
    st.multiselect("Group (company)", list(options.groups), key="eda_groups", format_func=options.groups.get)
    st.multiselect("Spot", list(options.spots), key="eda_spots", format_func=options.spots.get)
    st.multiselect("Dining type", list(options.dining_types), key="eda_dining",
                   format_func=options.dining_types.get)
    st.multiselect("Maker", list(options.makers), key="eda_makers", format_func=options.makers.get)
    st.multiselect("Cuisine / category", list(options.cuisines), key="eda_cuisines",
                   format_func=options.cuisines.get)
    st.toggle("Paid items only", key="eda_paid_only")

filt = st.session_state.eda_filter = options.sanitize(filter_from_widgets())
url = {k: v for k, v in st.query_params.to_dict().items() if k not in eda.QUERY_KEYS}   # e.g. the open tab
if st.query_params.to_dict() != {**url, **filt.to_query_params()}:
    st.query_params.from_dict({**url, **filt.to_query_params()})

# ------------------------------------------------------------------------------ KPIs
with friendly_errors():
    kpi = q(eda.kpi_table, filt)
if not kpi.loc[C.N_ITEMS, C.CURRENT]:
    st.info(NO_ORDERS)
    st.stop()

previous = filt.previous_period()
comparable = previous.start >= options.first_date     # no deltas against days before the data starts
st.caption(f"{filt.start} – {filt.end} ({filt.n_days}일)" + (
    f", change against {previous.start} – {previous.end}" if comparable else
    " — the previous period of equal length starts before the data, so no change is shown"))
for column, name in zip(st.columns(len(eda.KPI_ORDER)), eda.KPI_ORDER):
    value_fmt, delta_fmt = KPI_FORMAT[name]
    row = kpi.loc[name] / (WON_PER_MANWON if name == C.REVENUE else 1)
    column.metric(KPI_LABEL[name], fmt(value_fmt, row[C.CURRENT]),
                  fmt(delta_fmt, row[C.CHANGE]) if comparable and not math.isnan(row[C.CHANGE]) else None,
                  delta_color="inverse" if name == C.CANCEL_RATE else "normal")

# ------------------------------------------------------------------------------ sections
def section_trends(filt: eda.OrderFilter) -> None:
    measure = st.segmented_control("Measure", [C.N_ITEMS, C.N_ORDERS], format_func=L.get,
                                   default=C.N_ITEMS, key="eda_trend_measure", required=True)
    daily = q(eda.daily_orders, filt)
    fig = px.bar(daily, x=C.SERVICE_DATE, y=measure, color=C.DINING_LABEL, labels=L, category_orders=DINING_ORDER,
                 title="일별 주문 (막대) 과 7일 이동평균 (선, 수량)")
    for trace in px.line(daily, x=C.SERVICE_DATE, y=C.MOVING_AVG_7D, color=C.DINING_LABEL,
                         category_orders=DINING_ORDER).data:
        trace.update(name=f"{trace.name} 7일 평균", showlegend=True)
        fig.add_trace(trace)
    fig.update_traces(opacity=0.6, selector={"type": "bar"})          # keep the average lines visible
    chart(fig.update_xaxes(tickformat="%m/%d", dtick=DAY_MS * max(1, filt.n_days // 10)), "daily_orders", daily)
    weekly = q(eda.weekly_orders, filt)
    chart(px.bar(weekly, x=C.WEEK, y=measure, color=C.DINING_LABEL, labels=L, category_orders=DINING_ORDER,
                 title="주별 주문").update_xaxes(tickformat="%m/%d", dtick=7 * DAY_MS), "weekly_orders", weekly)


def section_weekday(filt: eda.OrderFilter) -> None:
    heat = q(eda.weekday_heatmap, filt)
    fig = px.density_heatmap(heat, x=C.WEEKDAY_LABEL, y=C.DINING_LABEL, z=C.N_ITEMS, histfunc="sum",
                             text_auto=True, labels=L, title="요일 × 식사 유형 주문 수량",
                             category_orders={C.WEEKDAY_LABEL: list(codes.WEEKDAY.values()), **DINING_ORDER})
    chart(fig, "weekday_heatmap", heat)


def section_top(filt: eda.OrderFilter) -> None:
    left, right = st.columns(2)
    what = left.segmented_control("Rank", ["음식", "메이커스", "카테고리"], default="음식",
                                  key="eda_top_what", required=True)
    by_label = right.segmented_control("By", list(RANKING_MEASURES), default="수량",
                                       key="eda_top_by", required=True)
    by = RANKING_MEASURES[by_label]
    ranker, name_col = {"음식": (eda.top_foods, C.FOOD_NAME), "메이커스": (eda.top_makers, C.MAKERS_NAME),
                        "카테고리": (eda.top_categories, C.CUISINE_LABEL)}[what]
    rank_by = C.REVENUE if by == C.REVENUE else C.N_ITEMS
    top = (q(eda.top_foods, filt, n=DRILL_FOODS).head(TOP_N)        # shares the drill-down's query
           if ranker is eda.top_foods and rank_by == C.N_ITEMS else q(ranker, filt, n=TOP_N, by=rank_by))
    fig = px.bar(top, x=by, y=name_col, orientation="h", labels=L, title=f"Top {what} ({by_label})")
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
    fig = px.line(lorenz, x=C.FOOD_SHARE, y=C.ITEM_SHARE, labels=L, title="로렌츠 곡선 (음식별 주문 수량)")
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="완전 균등", line={"dash": "dot"})
    chart(fig, "lorenz_curve", lorenz)
    weekly_conc = q(eda.weekly_concentration, filt)
    fig = px.line(weekly_conc, x=C.WEEK, y=[C.GINI, C.TOP10_SHARE], markers=True, labels=L,
                  title="주별 집중도: 지니 계수와 상위 10% 음식 점유율")
    fig.for_each_trace(lambda t: t.update(name=L[t.name]))
    chart(fig, "weekly_concentration", weekly_conc)


def section_take_rate(filt: eda.OrderFilter) -> None:
    take = q(eda.menu_take_rate, filt)
    fig = px.scatter(take, x=C.TIMES_OFFERED, y=C.TAKE_RATE, size=C.N_ITEMS, hover_name=C.FOOD_NAME,
                     hover_data=[C.TIMES_CHOSEN, C.PICK_RATE], labels=L,
                     title="메뉴 노출 횟수 vs 노출됐을 때의 점유율")
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
                 title="같은 음식을 다시 주문하기까지의 일수 (최근 30일 이내)"), "repeat_gaps", distribution)


def section_users(filt: eda.OrderFilter) -> None:
    per_user = q(eda.items_per_user, filt)
    chart(px.bar(per_user, x=C.N_ITEMS, y=C.N_USERS, labels=L, title="사용자별 주문 수량 분포"),
          "items_per_user", per_user)
    weekly = q(eda.weekly_user_counts, filt)             # one query for both charts below
    new_old = eda.new_vs_returning_from(weekly)
    fig = px.bar(new_old, x=C.WEEK, y=[C.NEW_USERS, C.RETURNING_USERS], labels=L,
                 title="주별 신규 / 재방문 사용자")
    fig.for_each_trace(lambda t: t.update(name=L[t.name]))
    chart(fig, "new_vs_returning", new_old)
    cohorts = eda.cohort_retention_from(weekly)
    if cohorts.empty:
        st.info("No user had a first order inside this date range, so there is no cohort to follow.")
    else:
        fig = px.imshow(eda.retention_matrix(cohorts), text_auto=".0%", aspect="auto",
                        color_continuous_scale="Blues", labels={"x": L[C.WEEKS_SINCE],
                                                                "y": L[C.COHORT_WEEK], "color": L[C.RETENTION]},
                        title="주간 코호트 유지율")
        chart(fig, "cohort_retention", cohorts)


def section_satisfaction(filt: eda.OrderFilter) -> None:
    by_category = q(eda.satisfaction_by_category, filt)
    chart(px.bar(by_category, x=C.CUISINE_LABEL, y=C.AVG_SATISFACTION, hover_data=[C.N_REVIEWS],
                 labels=L, title="카테고리별 평균 만족도", range_y=[1, 5]),
          "satisfaction_by_category", by_category)
    st.subheader("메이커스별 만족도")
    table(q(eda.satisfaction_by_maker, filt), "satisfaction_by_maker")
    prices = q(eda.price_distribution, filt)
    chart(px.bar(prices, x=C.UNIT_PRICE, y=C.N_ITEMS, labels=L, title="단가 분포 (1,000원 단위)"),
          "price_distribution", prices)


def section_groups(filt: eda.OrderFilter) -> None:
    table(q(eda.group_comparison, filt), "group_comparison")


def section_drilldown(filt: eda.OrderFilter) -> None:
    foods = q(eda.top_foods, filt, n=DRILL_FOODS)                  # most ordered first
    names = dict(zip(foods[C.FOOD_ID], foods[C.FOOD_NAME]))
    food_id = st.selectbox("Food", list(names), format_func=lambda f: f"{names[f]} (#{f})",
                           key="eda_drill_food")
    if food_id is not None:
        trend = q(eda.food_weekly_trend, filt, food_id)
        chart(px.line(trend, x=C.WEEK, y=[C.N_ITEMS, C.N_USERS], markers=True, labels=L,
                      title=f"{names[food_id]}: 주별 추이").for_each_trace(lambda t: t.update(name=L[t.name])),
              "food_trend", trend)
        left, right = st.columns(2)
        with left:
            st.subheader("고객사")
            table(q(eda.food_groups, filt, food_id), "food_groups")
        with right:
            reviews = q(eda.food_satisfaction, filt, food_id)
            chart(px.bar(reviews, x=C.SATISFACTION, y=C.N_REVIEWS, labels=L, title="만족도 분포"),
                  "food_satisfaction", reviews)


# Only the open tab runs its queries (st.tabs with on_change="rerun"): a render pays for the KPIs and
# one section, not all ten. The open tab travels in the URL with the filters.
SECTIONS = {"추이": section_trends, "요일 × 식사": section_weekday, "Top": section_top,
            "집중도": section_concentration, "메뉴 선택률": section_take_rate, "재주문": section_repeats,
            "사용자": section_users, "만족도 · 가격": section_satisfaction, "고객사 비교": section_groups,
            "음식 상세": section_drilldown}
for tab, render in zip(st.tabs(list(SECTIONS), key=TAB_KEY, on_change="rerun", bind="query-params"),
                       SECTIONS.values()):
    if tab.open:
        with tab, friendly_errors():
            render(filt)
