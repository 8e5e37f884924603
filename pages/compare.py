"""Compare recommendations: one user, what each model would recommend, side by side.

UI only: the sidebar picks a user, a setting (a day's menu or the catalog), 2–4 finished runs and
the diversity knobs; every list, mark, metric and message comes from ``kurrant_core.compare``.
A run's scores for the user are cached once per server per (run, user, date, meal, data version),
so moving a knob only re-ranks the cached pools and a second session reuses them.
"""
from __future__ import annotations

import dataclasses
import time

import plotly.express as px
import streamlit as st

from app_support import cached_figure, cached_query, de_engine, friendly_errors, run_candidates
from kurrant_core import codes, columns as C, compare, config, eda, jobs, policies
from kurrant_core.db import check_ready
from kurrant_core.eda.labels import MEASURE_LABEL
from kurrant_core.errors import KurrantError

MENU, CATALOG = "A day's menu", "The catalog"
RETRAIN_PAGE = "pages/retrain.py"
LIST_COLUMNS = [C.RANK, C.FOOD_NAME, C.MAKERS_NAME, C.CUISINE_LABEL, C.SPICINESS_LABEL, C.PRICE, C.SCORE,
                C.MODEL_RANK, C.MARKS, C.WHY]
LIST_CONFIG = {
    C.RANK: st.column_config.NumberColumn("#", width="small"),
    C.FOOD_NAME: "Food", C.MAKERS_NAME: "Maker", C.CUISINE_LABEL: "Category", C.SPICINESS_LABEL: "Spiciness",
    C.PRICE: st.column_config.NumberColumn("Price", format="%d원"),
    C.SCORE: st.column_config.NumberColumn("Score", format="%.3f", help="The model's own score"),
    C.MODEL_RANK: st.column_config.NumberColumn("Model rank", help="Rank before the knobs re-ranked it"),
    C.MARKS: st.column_config.TextColumn("Marks", help="◆ also in other lists · ↺ eaten before (last time)"),
    C.WHY: st.column_config.TextColumn("Why", width="large"),
}
OVERLAP_CONFIG = {
    C.LIST_LABEL: "List", C.OTHER_LIST: "Other list",
    C.JACCARD: st.column_config.NumberColumn("Jaccard", format="%.2f", help="Shared foods / all foods"),
    C.RBO: st.column_config.NumberColumn("RBO", format="%.2f",
                                         help="Rank-biased overlap (p = 0.9): agreement, top ranks first"),
}
LABELS = {**MEASURE_LABEL, C.LIST_LABEL: "목록"}

state = st.session_state
st.title("Compare recommendations")
st.caption("One user, what each model would recommend, side by side — and what the diversity knobs do. "
           "The allergy filter always applies.")


def q(fn, *args, **kwargs):
    """A cached ``kurrant_core.compare`` query for the current data version."""
    return cached_query(fn, *args, version=version, **kwargs)


def quick_pick(kind: str) -> None:
    try:
        state.cmp_user_id = compare.pick_user(de_engine(), kind, group_id=state.cmp_group,
                                              cutoff=compare.latest_cutoff(runs, state.cmp_runs))
        state.cmp_pick_message = None
    except KurrantError as exc:
        state.cmp_pick_message = str(exc)


def browse() -> None:
    if state.cmp_browse is not None:
        state.cmp_user_id = state.cmp_browse


def reset_knobs() -> None:
    for name, value in policies.get_policy(de_engine(), policies.DEFAULT).knobs().items():
        state[f"cmp_{name}"] = value


# ------------------------------------------------------------------------------ data + defaults
with friendly_errors():
    engine = de_engine()
    check_ready(engine)
    version = eda.data_version(engine)
    runs = compare.comparable_runs(engine)
    groups = q(compare.user_groups)
    all_days = q(compare.menu_days)
    if "cmp_user_id" not in state:
        state.cmp_user_id = q(compare.pick_user, compare.HEAVY)

run_labels = dict(zip(runs[C.RUN_ID].tolist(), runs[C.LIST_LABEL].tolist()))
state.cmp_runs = [r for r in state.get("cmp_runs", compare.default_run_ids(runs)) if r in run_labels]
state.setdefault("cmp_group", None)
state.setdefault("cmp_scope", MENU)
state.setdefault("cmp_dining", codes.LUNCH)
state.setdefault("cmp_date", compare.default_menu_day(all_days, codes.LUNCH,
                                                     compare.latest_cutoff(runs, state.cmp_runs)))
for knob, default in policies.get_policy(engine, policies.DEFAULT).knobs().items():
    state.setdefault(f"cmp_{knob}", default)

# ------------------------------------------------------------------------------ sidebar
with st.sidebar:
    st.header("User")
    st.selectbox("Group", [None, *groups], format_func=lambda g: "All groups" if g is None else groups[g],
                 key="cmp_group", placeholder="All groups", help="Filters the quick picks and the browse list")
    buttons = st.columns(2)
    for n, (kind, label) in enumerate(compare.QUICK_PICKS.items()):
        buttons[n % 2].button(label, key=f"cmp_pick_{kind}", on_click=quick_pick, args=(kind,), width="stretch")
    if state.get("cmp_pick_message"):
        st.warning(state.cmp_pick_message)
    if state.cmp_group is not None:
        members = q(compare.users_of_group, state.cmp_group)
        n_items = dict(zip(members[C.USER_ID].tolist(), members[C.N_ITEMS].tolist()))
        st.selectbox("Browse the group", list(n_items), index=None, key="cmp_browse", on_change=browse,
                     format_func=lambda u: f"#{u} · {n_items[u]} items", placeholder="Pick a user…")
    st.number_input("User id", min_value=1, step=1, key="cmp_user_id")

    st.header("Setting")
    st.segmented_control("Rank", [MENU, CATALOG], key="cmp_scope", required=True)
    if state.cmp_scope == MENU:
        first, last = compare.menu_date_range(all_days)
        st.date_input("Service date", key="cmp_date", min_value=first, max_value=last)
        st.selectbox("Dining type", list(codes.DINING_TYPE), format_func=codes.DINING_TYPE.get, key="cmp_dining")

    st.header("Models")
    if run_labels:
        st.multiselect("Runs (2–4)", list(run_labels), format_func=run_labels.get, key="cmp_runs",
                       max_selections=compare.MAX_COMPARED, help="Finished runs in rec_run, newest first")
    else:
        st.caption("No finished runs yet.")

    st.header("Diversity knobs")
    st.slider("List length k", 1, 20, key="cmp_k")
    st.slider("MMR λ (1 = off, 0 = diversity only)", 0.0, 1.0, step=0.05, key="cmp_mmr_lambda")
    st.slider("DPP θ (1 = off)", 0.0, 1.0, step=0.05, key="cmp_dpp_theta")
    st.slider("Calibration λ (0 = off)", 0.0, 1.0, step=0.05, key="cmp_calibration_lambda",
              help="Pull each list towards the user's category mix")
    caps = st.columns(2)
    caps[0].number_input("Max per category", 0, 20, key="cmp_max_per_category", help="0 = off")
    caps[1].number_input("Max per maker", 0, 20, key="cmp_max_per_maker", help="0 = off")
    st.slider("Repeat window (days, 0 = off)", 0, 30, key="cmp_repeat_window_days",
              help="Hide foods the user ate in the last N days")
    st.slider("Popularity penalty β", 0.0, 1.0, step=0.05, key="cmp_popularity_penalty")
    st.slider("Exploration τ", 0.0, 1.0, step=0.05, key="cmp_explore_temperature")
    st.number_input("Exploration seed", 0, 10_000, key="cmp_seed")
    st.button("Reset knobs", key="cmp_reset", on_click=reset_knobs, icon=":material/restart_alt:",
              help="Back to the default policy: the lists runs ship")
    st.caption("The knobs start at the default diversity policy, so the lists shown are the lists "
               "runs ship; set every knob to its off value to see the models' own order.")

knobs = compare.Policy.from_knobs(**{name: state[f"cmp_{name}"] for name in compare.KNOB_NAMES})

with st.sidebar.expander("Save these knobs as a policy"):
    st.caption("A saved policy can be chosen for a model on the Retrain & runs page: its runs then "
               "write (and publish) their lists re-ranked exactly like this.")
    policy_name = st.text_input("Policy name", key="cmp_policy_name")
    policy_password = st.text_input("Team password", type="password", key="cmp_policy_password")
    if st.button("Save policy", key="cmp_save_policy"):
        access = jobs.check_team_password(policy_password)
        if not access.allowed:
            st.error(access.reason)
        else:
            try:
                saved = policies.save_policy(de_engine(), compare.Policy.from_knobs(policy_name.strip(), **knobs.knobs()),
                                             saved_by="dashboard")
            except KurrantError as exc:
                st.error(str(exc))
            else:
                st.success(f"Saved policy {saved.name}: {saved.steps_text()}")

# ------------------------------------------------------------------------------ the user
with friendly_errors():
    profile = q(compare.user_profile, int(state.cmp_user_id))

st.subheader(f"User {profile.user_id}")
who, orders, survey, allergies = st.columns(4)
who.markdown(f"**Group** {profile.group_name}  \n**Spot** {profile.spot_name}  \n"
             f"**Status** {profile.status_label}" + (f" (left {profile.left_on})" if profile.left_on else ""))
orders.markdown(f"**Paid items** {profile.n_items:,}  \n"
                f"**First order** {profile.first_order_date or '–'}  \n**Last order** {profile.last_order_date or '–'}")
survey.markdown("**Taste survey**  \n" + (" · ".join(profile.favorite_labels) or "not answered"))
allergies.markdown("**Allergies**  \n" + (" · ".join(profile.allergy_labels) or "none") +
                   f"  \n**Diet** {profile.vegan_label}")

# ------------------------------------------------------------------------------ the setting
service_date = dining_type = None
if state.cmp_scope == MENU:
    if state.cmp_date is None:
        st.info("The DE database holds no daily menus: rank the catalog instead.")
        st.stop()
    service_date, dining_type = state.cmp_date, int(state.cmp_dining)
    with friendly_errors():
        n_menu = compare.require_menu(q(compare.menu_days, profile.group_id), service_date, dining_type,
                                      profile.group_name)
    setting = (f"{profile.group_name}'s {codes.DINING_TYPE[dining_type]} menu on {service_date} "
               f"({codes.WEEKDAY[service_date.weekday()]}, {n_menu} foods)")
else:
    setting = "the catalog (every food on sale)"

with friendly_errors():
    history = q(compare.user_history, profile.user_id, before=service_date)

# ------------------------------------------------------------------------------ the lists
if not run_labels:
    st.info("There are no finished runs to compare yet. Start a retrain of the fast models here (seconds on "
            "the demo data), on the retrain page, or from the command line:")
    st.code("python -m kurrant_core train --model popularity\npython -m kurrant_core train --model content",
            language="bash")
    if (config.PROJECT_ROOT / RETRAIN_PAGE).exists():
        st.page_link(RETRAIN_PAGE, label="Retrain & runs", icon=":material/model_training:")
    if st.button(f"Retrain {' and '.join(compare.FAST_MODELS)} now", key="cmp_retrain", type="primary"):
        with friendly_errors():
            job_id = compare.submit_fast_retrain(engine)
        st.success(f"Retrain job {job_id} started in the background. Reload this page when it is done "
                   "(the retrain page follows its progress).")
    st.stop()
if not state.cmp_runs:
    st.info("Pick 2–4 runs under *Models* in the sidebar.")
    st.stop()

st.subheader("Side by side")
st.caption(f"Ranking {setting}.")
with friendly_errors():
    scored = [run_candidates(run_id, profile.user_id, service_date, dining_type, version=version)
              for run_id in state.cmp_runs]
    started = time.perf_counter()
    view = compare.side_by_side(scored, knobs, history)
    elapsed_ms = (time.perf_counter() - started) * 1000

for container, column in zip(st.columns(len(view.columns)), view.columns):
    with container:
        st.markdown(f"#### {column.label}")
        if column.is_cold_start:
            st.caption(":material/ac_unit: Cold start: the model answers with its fallback "
                       "(taste survey, else group popularity).")
        if column.note:
            st.warning(column.note)
        hidden = [f"{n} by {what}" for n, what in ((column.n_allergen_removed, "the allergy filter"),
                                                    (column.n_recent_removed, "the repeat window")) if n]
        if hidden:
            st.caption("Hidden: " + ", ".join(hidden) + ".")
        st.dataframe(column.items, column_order=LIST_COLUMNS, column_config=LIST_CONFIG, hide_index=True,
                     key=f"cmp_list_{column.run_id}")
        for row in (compare.REPORT_METRICS[:3], compare.REPORT_METRICS[3:]):
            for cell, metric in zip(st.columns(3), row):
                value, delta = metric.display(column.report, column.baseline)
                cell.metric(metric.label, value, delta, help=metric.help,
                            delta_color="inverse" if metric.lower_is_better else "normal")
st.caption(f"Re-ranked and measured {len(view.columns)} lists in {elapsed_ms:.0f} ms; "
           "changes are against each model's own top-k (every knob off).")

st.subheader("Overlap between the lists")
if len(view.columns) < 2:
    st.caption("Pick a second run to see how much the lists agree.")
else:
    st.dataframe(view.overlap, column_config=OVERLAP_CONFIG, hide_index=True)

# ------------------------------------------------------------------------------ history vs lists
def history_figure(history):
    return px.scatter(history, x=C.SERVICE_DATE, y=C.CUISINE_LABEL, color=C.CUISINE_LABEL,
                      symbol=C.DINING_LABEL, hover_name=C.FOOD_NAME, hover_data=[C.MAKERS_NAME, C.COUNT],
                      labels=LABELS, title="What they ordered")


def mix_figure(category_mix):
    fig = px.bar(category_mix, x=C.SHARE, y=C.LIST_LABEL, color=C.CUISINE_LABEL, orientation="h",
                 labels=LABELS, title="Category mix: history vs each list")
    fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(autorange="reversed")
    return fig


st.subheader("The user's history")
timeline, mix = st.columns([3, 2])
with timeline:
    if history.empty:
        st.info(f"User {profile.user_id} has no paid orders" + (f" before {service_date}" if service_date else "")
                + ". A model that never saw them order answers with its cold-start fallback.")
    else:
        st.plotly_chart(cached_figure(history_figure, history, version=version), key="cmp_fig_history")
with mix:
    st.plotly_chart(cached_figure(mix_figure, view.category_mix, version=version), key="cmp_fig_mix")
