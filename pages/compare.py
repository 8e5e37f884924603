"""Compare recommendations: one user, what each model would recommend, side by side.

UI only: the sidebar picks a user, a setting (a day's menu or the catalog), 2–4 finished runs and
the diversity knobs; every list, mark, metric and message comes from ``kurrant_core.compare`` and
every label from ``kurrant_core.ui_text``. A run's scores for the user are cached once per server per
(run, user, date, meal, data version), so moving a knob only re-ranks the cached pools and a second
session reuses them.

The sidebar's widgets are bound to the URL (``bind="query-params"``): a shared link opens the same
user, setting, runs and knobs, and a widget that is not drawn (the date while the catalog is ranked)
keeps its value in the URL instead of falling back to its default. A bound widget keeps its place
on the page: what comes and goes above one (a message, the group's users, the menu's day and meal,
the replay) sits in a container of its own. Streamlit's frontend forgets a widget's binding when the
widget moves while a run's elements arrive in more than one batch (the old copy, removed after the
new one is drawn, unregisters it); from then on the widget no longer writes to the URL.

Everything the knobs change (the lists, the pick of the day, the replay, the overlap and the
charts) is one fragment (``st.fragment``): the replay's days rerun only it. A knob reruns the page,
which the caches make cheap. The lists and the replay strip are computed once per server for the same runs,
user, setting and knobs (``app_support.compare_view``/``compare_replay``), so sessions opening the
same view share one computation.
"""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from app_support import (
    cached_figure,
    cached_query,
    can,
    compare_replay,
    compare_view,
    current_person,
    de_engine,
    friendly_errors,
    language,
    t,
)
from kurrant_core import access, codes, columns as C, compare, config, eda, policies, static_table, ui_text
from kurrant_core.db import check_ready
from kurrant_core.eda.labels import measure_labels
from kurrant_core.errors import KurrantError

MENU, CATALOG = "menu", "catalog"
SCOPES = {MENU: "cmp.scope.menu", CATALOG: "cmp.scope.catalog"}
RETRAIN_PAGE = "pages/retrain.py"
URL = "query-params"
LIST_COLUMNS = [C.RANK, C.FOOD_NAME, C.CUISINE_LABEL, C.PRICE, C.MATCH, C.MARKS]
LIST_CONFIG = {
    C.RANK: st.column_config.NumberColumn(t("col.rank"), width="small"),
    C.FOOD_NAME: t("col.food"), C.CUISINE_LABEL: t("col.category"),
    C.PRICE: st.column_config.NumberColumn(t("col.price"), format="%,d원"),
    C.MATCH: st.column_config.ProgressColumn(t("col.match"), help=t("col.match_help"), format="%d",
                                             min_value=0, max_value=100, width="small"),
    C.MARKS: st.column_config.TextColumn(t("col.marks"), help=t("col.marks_help")),
}
# the replay strip and the overlap are short, read-only tables: Markdown, which costs the browser about
# a third of a data grid (kurrant_core.static_table); the lists keep their grids (sorting, the match bar)
OVERLAP_HEADERS = {C.LIST_LABEL: t("col.list"), C.OTHER_LIST: t("col.other_list"), C.JACCARD: "Jaccard",
                   C.RBO: "RBO"}
OVERLAP_FORMATS = {C.JACCARD: "{:.2f}".format, C.RBO: "{:.2f}".format}
LABELS = {**measure_labels(language()), C.LIST_LABEL: t("col.list"), C.COUNT: t("col.count")}
REPLAY_HEADERS = {C.SERVICE_DATE: t("col.day"), C.ACTUAL_ORDER: t("col.actual")}
REPLAY_FORMATS = {C.SERVICE_DATE: ui_text.day}

state = st.session_state
st.title(t("cmp.title"))
st.caption(t("cmp.caption"))


def q(fn, *args, **kwargs):
    """A cached ``kurrant_core.compare`` query for the current data version."""
    return cached_query(fn, *args, version=version, **kwargs)


def quick_pick(kind: str) -> None:
    try:
        state.cmp_user_id = compare.pick_user(de_engine(), kind, group_id=state.cmp_group,
                                              cutoff=compare.latest_cutoff(runs, state.get("cmp_runs", [])))
        state.cmp_pick_message = None
    except KurrantError as exc:
        state.cmp_pick_message = ui_text.error_text(exc, language())


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
    default_user = q(compare.pick_user, compare.HEAVY)
    default_knobs = policies.get_policy(engine, policies.DEFAULT).knobs()

run_labels = dict(zip(runs[C.RUN_ID].tolist(), runs[C.LIST_LABEL].tolist()))
default_runs = compare.default_run_ids(runs)
# the widgets' defaults (a value equal to its default stays out of the URL); their state lives in the URL
default_day = compare.default_menu_day(all_days, codes.LUNCH, compare.latest_cutoff(runs, default_runs))


def knob_slider(name: str, label: str, low: float, high: float, step: float | None = None, **kwargs) -> None:
    """A knob bound to the URL, starting at the default policy's value."""
    kind = float if isinstance(low, float) else int
    st.slider(t(label), low, high, kind(default_knobs[name]), step=step, key=f"cmp_{name}", bind=URL, **kwargs)


# ------------------------------------------------------------------------------ sidebar
with st.sidebar:
    st.header(t("cmp.user"))
    st.selectbox(t("cmp.group"), [None, *groups],
                 format_func=lambda g: t("cmp.all_groups") if g is None else groups[g],
                 key="cmp_group", placeholder=t("cmp.all_groups"), help=t("cmp.group_help"))
    buttons = st.columns(2)
    for n, kind in enumerate(compare.QUICK_PICKS):
        buttons[n % 2].button(t(f"cmp.pick.{kind}"), key=f"cmp_pick_{kind}", on_click=quick_pick, args=(kind,),
                              width="stretch")
    with st.container():            # what comes and goes sits in a slot of its own (see above)
        if state.get("cmp_pick_message"):
            st.warning(state.cmp_pick_message)
        if state.cmp_group is not None:
            members = q(compare.users_of_group, state.cmp_group)
            n_items = dict(zip(members[C.USER_ID].tolist(), members[C.N_ITEMS].tolist()))
            st.selectbox(t("cmp.browse"), list(n_items), index=None, key="cmp_browse", on_change=browse,
                         format_func=lambda u: t("cmp.browse_item", user=u, n=n_items[u]),
                         placeholder=t("cmp.browse_pick"))
    st.number_input(t("cmp.user_id"), min_value=1, value=int(default_user), step=1, key="cmp_user_id", bind=URL)

    st.header(t("cmp.setting"))
    scope = st.segmented_control(t("cmp.rank"), list(SCOPES), format_func=lambda s: t(SCOPES[s]), default=MENU,
                                 key="cmp_scope", required=True, bind=URL)
    with st.container():
        if scope == MENU and default_day is not None:
            first, last = compare.menu_date_range(all_days)
            st.date_input(t("cmp.date"), value=default_day, key="cmp_date", min_value=first, max_value=last,
                          bind=URL)
            st.selectbox(t("cmp.dining"), list(codes.DINING_TYPE), format_func=codes.DINING_TYPE.get,
                         index=list(codes.DINING_TYPE).index(codes.LUNCH), key="cmp_dining", bind=URL)

    st.header(t("cmp.models"))
    if run_labels:
        st.multiselect(t("cmp.runs"), list(run_labels), default=default_runs, format_func=run_labels.get,
                       key="cmp_runs", max_selections=compare.MAX_COMPARED, help=t("cmp.runs_help"), bind=URL)
    else:
        st.caption(t("cmp.no_runs_side"))

chosen_runs = [r for r in state.get("cmp_runs", []) if r in run_labels]


# ------------------------------------------------------------------------------ the knobs and what they change
def history_figure(history, labels: dict, title: str):
    fig = px.scatter(history, x=C.SERVICE_DATE, y=C.CUISINE_LABEL, color=C.CUISINE_LABEL,
                     symbol=C.DINING_LABEL, hover_name=C.FOOD_NAME, hover_data=[C.MAKERS_NAME, C.COUNT],
                     labels=labels, title=title)
    return fig.update_xaxes(tickformat="%Y-%m-%d")


def mix_figure(category_mix, labels: dict, title: str):
    fig = px.bar(category_mix, x=C.SHARE, y=C.LIST_LABEL, color=C.CUISINE_LABEL, orientation="h",
                 labels=labels, title=title)
    fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(autorange="reversed")
    return fig


def save_policy_form(knobs: compare.Policy) -> None:
    """Save the knobs under a name (team access)."""
    st.caption(t("cmp.save_caption"))
    policy_name = st.text_input(t("cmp.policy_name"), key="cmp_policy_name")
    may_save = can(access.SAVE_POLICY)          # the one access check (the sidebar says who this is)
    if not may_save.allowed:
        st.caption(may_save.reason)
    if st.button(t("cmp.save_button"), key="cmp_save_policy", disabled=not may_save.allowed):
        try:
            saved = policies.save_policy(de_engine(), compare.Policy.from_knobs(policy_name.strip(),
                                                                               **knobs.knobs()),
                                         by=current_person())
        except KurrantError as exc:
            st.error(ui_text.error_text(exc, language()))
        else:
            st.success(t("cmp.saved", name=saved.name, steps=saved.steps_text()))


def knob_panel() -> compare.Policy:
    """The diversity knobs and saving them as a policy (sidebar); the policy they make."""
    st.header(t("cmp.knobs"))
    knob_slider("k", "cmp.k", 1, 20)
    knob_slider("mmr_lambda", "cmp.mmr", 0.0, 1.0, 0.05)
    knob_slider("dpp_theta", "cmp.dpp", 0.0, 1.0, 0.05)
    knob_slider("calibration_lambda", "cmp.calibration", 0.0, 1.0, 0.05, help=t("cmp.calibration_help"))
    caps = st.columns(2)
    caps[0].number_input(t("cmp.max_category"), 0, 20, int(default_knobs["max_per_category"]),
                         key="cmp_max_per_category", help=t("cmp.zero_off"), bind=URL)
    caps[1].number_input(t("cmp.max_maker"), 0, 20, int(default_knobs["max_per_maker"]),
                         key="cmp_max_per_maker", help=t("cmp.zero_off"), bind=URL)
    st.toggle(t("cmp.history_cap"), bool(default_knobs["cap_by_history"]), key="cmp_cap_by_history",
              help=t("cmp.history_cap_help"), bind=URL)
    knob_slider("repeat_window_days", "cmp.repeat", 0, 30, help=t("cmp.repeat_help"))
    knob_slider("popularity_penalty", "cmp.popularity", 0.0, 1.0, 0.05)
    knob_slider("explore_temperature", "cmp.explore", 0.0, 1.0, 0.05)
    st.number_input(t("cmp.seed"), 0, 10_000, int(default_knobs["seed"]), key="cmp_seed", bind=URL)
    st.button(t("cmp.reset"), key="cmp_reset", on_click=reset_knobs, icon=":material/restart_alt:",
              help=t("cmp.reset_help"))
    st.caption(t("cmp.knobs_caption"))
    knobs = compare.Policy.from_knobs(**{name: state[f"cmp_{name}"] for name in compare.KNOB_NAMES})

    saver = st.expander(t("cmp.save_policy"), key="cmp_save_open", on_change="rerun")
    if saver.open:                  # drawn once opened: a first visit does not draw the form
        with saver:
            save_policy_form(knobs)
    return knobs


@st.fragment
def knobs_and_lists(user_id: int, scope: str, chosen_runs: list[int], knobs: compare.Policy) -> None:
    """Everything the knobs change; the replay's days rerun only this. (The knobs themselves stay
    outside the fragment: drawn into the sidebar from inside it, a knob moved just after a page
    run was sometimes lost, with its link, in about one browser test in four.)"""

    # -------------------------------------------------------------------------- the user
    with friendly_errors():
        profile = q(compare.user_profile, user_id)

    st.subheader(t("cmp.user_title", user=profile.user_id))
    who, orders, survey, allergies = st.columns(4)
    who.markdown(f"**{t('cmp.group')}** {profile.group_name}  \n**{t('cmp.spot')}** {profile.spot_name}  \n"
                 f"**{t('cmp.status')}** {profile.status_label}"
                 + (t("cmp.left", day=ui_text.day(profile.left_on)) if profile.left_on else ""))
    orders.markdown(f"**{t('cmp.paid_items')}** {profile.n_items:,}  \n"
                    f"**{t('cmp.first_order')}** {ui_text.day(profile.first_order_date)}  \n"
                    f"**{t('cmp.last_order')}** {ui_text.day(profile.last_order_date)}")
    survey.markdown(f"**{t('cmp.survey')}**  \n" + (" · ".join(profile.favorite_labels) or t("cmp.not_answered")))
    allergies.markdown(f"**{t('cmp.allergies')}**  \n" + (" · ".join(profile.allergy_labels) or t("cmp.none")) +
                       f"  \n**{t('cmp.diet')}** {profile.vegan_label}")

    # -------------------------------------------------------------------------- the setting
    service_date = dining_type = None
    n_menu = 0
    if scope == MENU:
        if state.get("cmp_date") is None:
            st.info(t("cmp.no_menus"))
            st.stop()
        service_date, dining_type = state.cmp_date, int(state.cmp_dining)
        with friendly_errors():
            n_menu = compare.require_menu(q(compare.menu_days, profile.group_id), service_date, dining_type,
                                          profile.group_name)
        setting = t("cmp.setting_menu", group=profile.group_name, meal=codes.DINING_TYPE[dining_type],
                    day=ui_text.day(service_date), weekday=codes.WEEKDAY[service_date.weekday()], n=n_menu)
    else:
        setting = t("cmp.setting_catalog")

    # -------------------------------------------------------------------------- the lists
    if not run_labels:
        st.info(t("cmp.no_runs"))
        st.code("python -m kurrant_core train --model popularity\npython -m kurrant_core train --model content",
                language="bash")
        if (config.PROJECT_ROOT / RETRAIN_PAGE).exists():
            st.page_link(RETRAIN_PAGE, label=t("nav.retrain"), icon="🔁")
        may_retrain = can(access.RETRAIN)           # this button once retrained without the team password
        if st.button(t("cmp.retrain_now", models=" · ".join(compare.FAST_MODELS)), key="cmp_retrain",
                     type="primary", disabled=not may_retrain.allowed,
                     help=None if may_retrain.allowed else may_retrain.reason):
            with friendly_errors():
                job_id = compare.submit_fast_retrain(engine, by=current_person())
            st.success(t("cmp.retrain_started", job=job_id))
        st.stop()
    if not chosen_runs:
        st.info(t("cmp.pick_runs"))
        st.stop()

    with friendly_errors():
        compared = compare_view(chosen_runs, profile.user_id, service_date, dining_type, knobs, lang=language(),
                                version=version)
    view, history, ordered, food_names = compared.view, compared.history, compared.ordered, compared.food_names

    # -------------------------------------------------------------------------- the pick of the day
    with st.container():            # its notes come and go: the widgets below keep their places
        st.subheader(t("cmp.pick_title"))
        st.caption(t("cmp.pick_caption_past", day=ui_text.day(service_date)) if ordered else t("cmp.pick_caption"))
        if scope == MENU and not ordered and profile.last_order_date and service_date <= profile.last_order_date:
            st.caption(t("cmp.no_order_that_day"))
        ordered_text = ", ".join(food_names.get(f, f"#{f}") for f in ordered)
        for container, column in zip(st.columns(len(view.columns)), view.columns):
            with container, st.container(border=True):
                st.markdown(f"**{column.label}**")
                if column.pick is None:
                    st.caption(t("cmp.no_pick"))
                    continue
                top = column.items.iloc[0]
                st.markdown(f"### {t('cmp.ai_pick')} · {top[C.FOOD_NAME]}")
                st.caption(f"{top[C.MAKERS_NAME]} · {top[C.CUISINE_LABEL]} · {ui_text.won(top[C.PRICE])} · "
                           f"{t('col.match')} {int(top[C.MATCH])}/100")
                st.markdown(ui_text.why_line(top[C.WHY], language()))
                if ordered:
                    if bool(top[C.ORDERED]):
                        st.success(t("cmp.hit"), icon="✅")
                    else:
                        rank = column.rank_of(ordered)
                        st.warning(t("cmp.miss", foods=ordered_text) + " · "
                                   + (t("cmp.in_list_at", rank=rank) if rank else t("cmp.not_in_list")), icon="❌")

        same_as: dict[str, str] = {}
        for labels, same_order in view.identical_groups():
            why = t("cmp.short_menu", n=n_menu, k=knobs.k) if n_menu and n_menu <= knobs.k else ""
            st.info(t("cmp.identical" if same_order else "cmp.same_set", labels=", ".join(labels), why=why))
            same_as.update({label: labels[0] for label in labels[1:]})

    st.subheader(t("cmp.side_by_side"))
    st.caption(t("cmp.ranking", setting=setting))
    for container, column in zip(st.columns(len(view.columns)), view.columns):
        with container:
            st.markdown(f"#### {column.label}")
            if column.is_cold_start:
                st.caption(t("cmp.cold_start"))
            if column.note:
                st.warning(ui_text.note_line(column.note, language()))
            hidden = [t(key, n=n) for n, key in ((column.n_allergen_removed, "cmp.hidden_allergy"),
                                                 (column.n_recent_removed, "cmp.hidden_repeat")) if n]
            if hidden:
                st.caption(t("cmp.hidden", parts=", ".join(hidden)))
            st.dataframe(column.items, column_order=LIST_COLUMNS, column_config=LIST_CONFIG, hide_index=True,
                         key=f"cmp_list_{column.run_id}")
            why_box = st.expander(t("cmp.why_title"), key=f"cmp_why_{column.run_id}", on_change="rerun")
            if why_box.open:                # drawn once opened (reruns only this fragment)
                why_box.markdown("\n".join(f"{rank}. **{food}** — {ui_text.why_line(why, language()) or '–'}"
                                            for rank, food, why in zip(column.items[C.RANK],
                                                                       column.items[C.FOOD_NAME], column.items[C.WHY])))
            if column.label in same_as:
                st.caption(t("cmp.same_metrics", label=same_as[column.label]))
                continue
            for row in (compare.REPORT_METRICS[:3], compare.REPORT_METRICS[3:]):
                for cell, metric in zip(st.columns(3), row):
                    value, delta = metric.display(column.report, column.baseline)
                    cell.metric(t(f"metric.{metric.key}"), value, delta, help=t(f"metric.{metric.key}_help"),
                                delta_color="inverse" if metric.lower_is_better else "normal")
    st.caption(t("cmp.measured", n=len(view.columns), ms=compared.elapsed_ms))

    # -------------------------------------------------------------------------- replay of past days
    with st.container():
        if scope == MENU:
            st.subheader(t("replay.title"))
            meal = codes.DINING_TYPE[dining_type]
            n_days = st.slider(t("replay.days"), 1, compare.MAX_REPLAY_DAYS, compare.DEFAULT_REPLAY_DAYS,
                               key="cmp_replay_days", bind=URL)
            with friendly_errors():
                replay = compare_replay(chosen_runs, profile.user_id, dining_type, service_date, n_days, knobs,
                                        version=version)
            if not replay.days:
                st.info(t("replay.none", meal=meal))
            else:
                st.caption(t("replay.caption", n=len(replay.days), meal=meal))
                for cell, (label, rate) in zip(st.columns(len(replay.hit_rates)), replay.hit_rates.items()):
                    cell.metric(t("replay.hit_rate", label=label), f"{rate:.0%}",
                                help=t("replay.hits", hits=replay.hits[label], days=len(replay.days)))
                st.markdown(static_table.to_markdown(replay.table, REPLAY_HEADERS, REPLAY_FORMATS))

    st.subheader(t("cmp.overlap"))
    if len(view.columns) < 2:
        st.caption(t("cmp.overlap_one"))
    else:
        st.markdown(static_table.to_markdown(view.overlap, OVERLAP_HEADERS, OVERLAP_FORMATS),
                    help=f"Jaccard: {t('col.jaccard_help')}  \nRBO: {t('col.rbo_help')}")

    # -------------------------------------------------------------------------- history vs lists
    with st.container():
        if history.empty:
            st.info(t("cmp.no_history", user=profile.user_id,
                      before=t("cmp.before", day=ui_text.day(service_date)) if service_date else ""))
    # the charts are drawn only while their box is open: a first visit does not wait for the charting library
    charts = st.expander(t("cmp.history"), key="cmp_charts", on_change="rerun", bind=URL, icon="📈")
    if charts.open:
        timeline, mix = charts.columns([3, 2]) if not history.empty else (None, charts)
        if timeline is not None:
            timeline.plotly_chart(cached_figure(history_figure, history, LABELS, t("cmp.history_title"),
                                                version=version), key="cmp_fig_history")
        mix.plotly_chart(cached_figure(mix_figure, view.category_mix, LABELS, t("cmp.mix_title"),
                                       version=version), key="cmp_fig_mix")


with st.sidebar:
    chosen_knobs = knob_panel()
knobs_and_lists(int(state.cmp_user_id), scope, chosen_runs, chosen_knobs)
