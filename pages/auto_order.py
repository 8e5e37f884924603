"""Auto-order preview: what the automatic purchase would order, per user, for one date and meal.

UI only: the planner, its figures and the settings live in ``kurrant_core.auto_order``; saving a plan
or the settings passes ``kurrant_core.access`` (and the library checks it again).
"""
from datetime import datetime

import pandas as pd
import plotly.express as px
import streamlit as st

from app_support import cached_query, can, current_person, de_engine, friendly_errors, language, run_model, t
from kurrant_core import access, auto_order, codes, columns as C, compare, eda, ui_text
from kurrant_core.auto_order import views
from kurrant_core.db import check_ready

measure = ui_text.labels(ui_text.MEASURES, language())
st.title(t("ao.title"))
st.caption(t("ao.caption"))

with friendly_errors():
    engine = de_engine()
    check_ready(engine)
    version = eda.data_version(engine)
    runs = compare.comparable_runs(engine)
    days = cached_query(compare.menu_days, version=version)

if runs.empty:
    st.info(t("ao.no_runs"))
    st.stop()
if days.empty:
    st.info(t("ao.no_menu_days"))
    st.stop()

# ------------------------------------------------------------------------------ what to plan
with friendly_errors():
    default_run = auto_order.default_run_id(engine)
run_ids = runs[C.RUN_ID].tolist()
labels = dict(zip(runs[C.RUN_ID], runs[C.LIST_LABEL]))
cols = st.columns([2, 2, 1, 2])
run_id = cols[0].selectbox(t("ao.run"), run_ids, index=run_ids.index(default_run) if default_run in run_ids else 0,
                           format_func=labels.get, key="ao_run")
dining_types = sorted(days[C.DINING_TYPE].unique().tolist())
dining = cols[2].selectbox(t("ao.dining"), dining_types, format_func=codes.DINING_TYPE.get,
                           index=dining_types.index(codes.LUNCH) if codes.LUNCH in dining_types else 0, key="ao_dining")
served = days.loc[days[C.DINING_TYPE] == dining, C.SERVICE_DATE]
cutoff = runs.set_index(C.RUN_ID).at[run_id, C.DATA_CUTOFF]
default_day = compare.default_menu_day(days, dining, on_or_after=cutoff)
day = cols[1].date_input(t("ao.date"), value=default_day, min_value=served.min(), max_value=served.max(), key="ao_date")
mode = cols[3].radio(t("ao.mode"), auto_order.MODES, format_func=lambda m: t(f"ao.mode.{m}"), key="ao_mode",
                     index=1 if day < cutoff else 0)
as_of_default = auto_order.default_as_of(day)
as_of_time = st.time_input(t("ao.as_of"), value=as_of_default.time(), help=t("ao.as_of_help"), key="ao_as_of")
as_of = datetime.combine(as_of_default.date(), as_of_time)


def _plan(engine, run_id: int, day, dining: int, as_of: datetime, mode: str):
    return auto_order.plan_meal(engine, day, dining, run_id=run_id, as_of=as_of, mode=mode,
                                load_model=lambda: run_model(run_id, version=version))


with friendly_errors():
    with st.spinner():
        plan = cached_query(_plan, int(run_id), day, int(dining), as_of, mode, version=version)

if plan.n_users == 0:
    st.info(t("ao.nobody"))
else:
    # -------------------------------------------------------------------------- headline
    head = views.headline(plan)
    cols = st.columns(5)
    cols[0].metric(t("ao.users"), f"{head.users:,}")
    cols[1].metric(t("ao.planned"), f"{head.planned:,}")
    cols[2].metric(t("ao.unplanned"), f"{head.unplanned:,}")
    cols[3].metric(t("ao.already"), f"{head.already_ordered:,}")
    cols[4].metric(t("ao.total_price"), ui_text.won(head.total_price))
    if head.match_rate is not None:
        st.metric(t("ao.match"), t("ao.match_value", matches=head.replay_matches, users=head.replay_users,
                                   rate=head.match_rate))
        if day < cutoff:
            st.caption(t("ao.leaked", cutoff=cutoff))
    st.caption(t("ao.objective", opt=head.objective, greedy=head.greedy_objective))

    reasons = views.unplanned_reasons(plan)
    if len(reasons):
        st.subheader(t("ao.reasons"))
        st.dataframe(reasons, hide_index=True, column_config={C.REASON: t(C.REASON), C.N_USERS: t("ao.users")})

    # -------------------------------------------------------------------------- makers and foods
    left, right = st.columns(2)
    with left:
        st.subheader(t("ao.makers"))
        load = views.maker_load(plan)
        long = load.melt(id_vars=[C.MAKERS_NAME], value_vars=[C.PLANNED, C.REMAINING], var_name=views.SOURCE,
                         value_name=C.COUNT)
        long[views.SOURCE] = long[views.SOURCE].map({C.PLANNED: t(C.PLANNED), C.REMAINING: t(C.REMAINING)})
        fig = px.bar(long, x=C.COUNT, y=C.MAKERS_NAME, color=views.SOURCE, orientation="h",
                     labels={C.COUNT: measure[C.COUNT], C.MAKERS_NAME: measure[C.MAKERS_NAME], views.SOURCE: ""})
        fig.update_layout(height=max(260, 26 * len(load)), yaxis={"categoryorder": "total ascending"},
                          legend={"orientation": "h"})
        st.plotly_chart(fig, width="stretch")
        st.caption(t("ao.makers_help"))
    with right:
        st.subheader(t("ao.foods"))
        foods = views.food_distribution(engine, plan)
        foods[views.SOURCE] = foods[views.SOURCE].map(lambda s: t(f"ao.source.{s}"))
        fig = px.bar(foods, x=C.COUNT, y=C.FOOD_NAME, color=views.SOURCE, barmode="group", orientation="h",
                     labels={C.COUNT: measure[C.COUNT], C.FOOD_NAME: measure[C.FOOD_NAME], views.SOURCE: ""})
        fig.update_layout(height=max(260, 22 * foods[C.FOOD_NAME].nunique()),
                          yaxis={"categoryorder": "total ascending"}, legend={"orientation": "h"})
        st.plotly_chart(fig, width="stretch")

    # -------------------------------------------------------------------------- per user
    st.subheader(t("ao.table"))
    table = views.user_table(plan)
    shown = [C.USER_ID, C.FOOD_NAME, C.MAKERS_NAME, C.PRICE, C.REASON]
    if C.ORDERED_FOOD_IDS in table:
        shown += [C.ORDERED_FOOD_IDS, C.IS_MATCH]
    table = table[shown].assign(**{C.PRICE: [ui_text.won(p) if pd.notna(p) else "–" for p in table[C.PRICE]]})
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        C.USER_ID: st.column_config.NumberColumn(t("ao.user"), format="%d"), C.FOOD_NAME: measure[C.FOOD_NAME],
        C.MAKERS_NAME: measure[C.MAKERS_NAME], C.PRICE: t(C.PRICE),
        C.REASON: st.column_config.TextColumn(t(C.REASON), width="large"),
        C.ORDERED_FOOD_IDS: t(C.ORDERED_FOOD_IDS), C.IS_MATCH: t(C.IS_MATCH)})
    st.download_button(t("ao.download"), plan.items.to_csv(index=False).encode("utf-8-sig"),
                       file_name=f"auto_order_{day}_{dining}.csv", mime="text/csv")

    decision = can(access.AUTO_ORDER_PLAN)
    if st.button(t("ao.save"), disabled=not decision.allowed, help=None if decision.allowed else decision.reason,
                 key="ao_save"):
        with friendly_errors():
            plan_id = auto_order.save_plan(engine, plan, by=current_person())
        st.success(t("ao.saved", plan_id=plan_id))

# ------------------------------------------------------------------------------ opt-in settings
with st.expander(t("ao.settings")):
    with friendly_errors():
        settings = auto_order.settings_frame(engine)
    st.caption(t("ao.settings_count", n=len(settings)) + " · " + t("ao.settings_caption"))
    editable = [C.USER_ID, C.DINING_TYPES, C.WEEKDAYS, C.MAX_PRICE, C.AVOID_FOOD_IDS, C.AVOID_MAKERS_IDS,
                C.ACTIVE_FROM, C.ACTIVE_TO]
    frame = settings[editable].assign(**{C.ACTIVE_FROM: pd.to_datetime(settings[C.ACTIVE_FROM]).dt.date,
                                         C.ACTIVE_TO: pd.to_datetime(settings[C.ACTIVE_TO]).dt.date})
    decision = can(access.AUTO_ORDER_SETTINGS)
    edited = st.data_editor(frame, num_rows="dynamic", hide_index=True, disabled=not decision.allowed,
                            key="ao_settings", column_config={
                                C.USER_ID: st.column_config.NumberColumn(t("ao.user"), format="%d"),
                                C.DINING_TYPES: t(C.DINING_TYPES), C.WEEKDAYS: t(C.WEEKDAYS),
                                C.MAX_PRICE: st.column_config.NumberColumn(t(C.MAX_PRICE), format="%d"),
                                C.AVOID_FOOD_IDS: t(C.AVOID_FOOD_IDS), C.AVOID_MAKERS_IDS: t(C.AVOID_MAKERS_IDS),
                                C.ACTIVE_FROM: st.column_config.DateColumn(t(C.ACTIVE_FROM)),
                                C.ACTIVE_TO: st.column_config.DateColumn(t(C.ACTIVE_TO))})
    if st.button(t("ao.settings_save"), disabled=not decision.allowed,
                 help=None if decision.allowed else decision.reason, key="ao_settings_save"):
        with friendly_errors():
            n = auto_order.replace_all_settings(engine, edited, by=current_person())
        st.success(t("ao.settings_saved", n=n))
