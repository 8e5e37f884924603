"""Retrain & runs: retrain models as a background job, watch it live, and manage the runs it made.

UI only: the job machinery, the run history and the comparisons live in ``kurrant_core.jobs``.
Anyone may look; every write (retrain, cancel, activate, publish, apply a policy) is allowed or
refused by ``kurrant_core.access`` for the person in the sidebar, and the library checks it again.
"""
from functools import partial

import pandas as pd
import plotly.express as px
import streamlit as st

from app_support import audit_section, can, clear_query_caches, current_person, de_engine, friendly_errors, language, t
from kurrant_core import access, columns as C, ensembles, evaluation, jobs, policies, runs, ui_text
from kurrant_core.db import check_ready
from kurrant_core.ensembles import ENSEMBLE_MODEL
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import names as N
from kurrant_core.evaluation.leaderboard import headline_keys
from kurrant_core.models import MODEL_NAMES, model_available

FAST_DEFAULT = ["popularity", "content"]
ALL_MODELS = None                                  # the history's "every model" choice
# run-history columns shown as they are, under a catalogue header (rt.col.<column>); no bare string
# here: Streamlit would write it on the page
HISTORY_TEXT = (C.RUN_ID, C.MODEL, C.TRIGGERED_BY, C.DATA_CUTOFF, C.TRAIN_START, C.TRAIN_END, C.JOB_ID, C.TUNED)
lang = language()

st.title(t("rt.title"))
with friendly_errors():
    engine = de_engine()
    check_ready(engine)
    jobs.recover_stale(engine)
    lock_holder = jobs.holder(engine)
available = [name for name in MODEL_NAMES if model_available(name)]

# ----------------------------------------------------------------------------------- who may act
person = current_person()                          # the sidebar (app.py) says who this is
allowed = {action: can(action) for action in access.WRITE_ACTIONS}
if allowed[access.RETRAIN].allowed:
    st.success(allowed[access.RETRAIN].reason, icon="🔓")
else:
    st.info(allowed[access.RETRAIN].reason, icon="🔒")   # for a PM: read-only, and whom to ask
    admin_detail = access.admin_detail(person, lang)
    if admin_detail:                                     # for whoever runs the dashboard, folded away
        with st.expander(t("access.admin_title")):
            st.markdown(admin_detail)


def _help(action: str, otherwise: str | None = None) -> str | None:
    """A disabled control's tooltip says why; an enabled one keeps its own help."""
    return otherwise if allowed[action].allowed else allowed[action].reason


def _seconds(value: float | None) -> str:
    return "" if value is None else t("rt.seconds", s=value)


def _figure(value: float | None, spec: str = ".3f") -> str:
    """A number for a PM's table; "–" where a run has no such figure (never Python's None)."""
    return "–" if value is None or pd.isna(value) else format(value, spec)


def _status(label: str) -> str:
    """A run or job status (``done``, ``waiting``, …) in the page's language; an unknown code as it is."""
    key = f"rt.status.{label}"
    return t(key) if key in ui_text.TEXT else str(label)


# Option labels (format_func) take this run's language, not the session's at call time: Streamlit may
# call them again outside the script run.
def _run_name(run_id: int) -> str:
    return ui_text.text("rt.run_n", lang, run=run_id)


def _policy_name(name: str) -> str:
    """The built-in policies by their catalogue names; a saved policy by the name it was saved under."""
    return ui_text.text(f"rt.policy_name.{name}", lang) if name in policies.BUILTIN else name


def _model_choice(model: str | None) -> str:
    return ui_text.text("rt.all_models", lang) if model is ALL_MODELS else model


def _rule_name(rule: str) -> str:
    return ui_text.text(f"rt.rule.{rule}", lang)


def submit_and_watch(build_spec) -> None:
    """Submit the job ``build_spec()`` describes and follow it; a refusal is shown, not raised."""
    try:
        job_id = jobs.submit(engine, build_spec(), by=person)
    except KurrantError as exc:
        st.error(ui_text.error_text(exc, lang))
    else:
        st.session_state["rt_watching"] = job_id
        st.rerun()


# ----------------------------------------------------------------------------------- the live job
@st.fragment(run_every=2)
def live_job() -> None:
    """The newest job, one progress bar per model; redraws itself every 2 s."""
    with friendly_errors():
        jobs.recover_stale(engine)
        job = jobs.latest_job(engine)
        if job is None:
            st.caption(t("rt.no_job"))
            return
        view = jobs.job_progress(engine, job.job_id)
    by = t("rt.job_by", who=job.triggered_by) if job.triggered_by else ""
    stage = f" · {job.stage}" if job.is_running and job.stage else ""    # once ended, the stage is the status
    st.markdown(t("rt.job_line", job=job.job_id, by=by, status=_status(job.status_label), stage=stage,
                  elapsed=_seconds(job.elapsed_s())))
    for model in view.models:
        st.progress(model.fraction, text=t("rt.model_progress", model=model.model, state=_status(model.state),
                                           elapsed=_seconds(model.elapsed_s)))
    if job.is_running:
        if st.button(t("rt.cancel"), key="rt_cancel",
                     disabled=not allowed[access.CANCEL].allowed or job.cancel_requested,
                     help=_help(access.CANCEL)):
            with friendly_errors():
                jobs.request_cancel(engine, job.job_id, by=person)
            st.toast(t("rt.cancel_toast", job=job.job_id))
        if job.cancel_requested:
            st.caption(t("rt.cancel_requested"))
        st.session_state["rt_watching"] = job.job_id
    elif st.session_state.get("rt_watching") == job.job_id:
        st.session_state["rt_watching"] = None           # it just ended: redraw the history
        clear_query_caches()
        st.rerun(scope="app")
    if job.error:
        st.error(job.error)
    with st.expander(t("rt.log", n=ui_text.LOG_TAIL_LINES)):          # folded, and only its last lines
        st.code(ui_text.tail_lines(job.log_tail) or t("rt.log_empty"), language=None)


# ----------------------------------------------------------------------------------- retrain form
st.header(t("rt.retrain"))
models = st.multiselect(t("rt.models"), available, default=[m for m in FAST_DEFAULT if m in available],
                        key="rt_models", placeholder=t("rt.choose"))
left, middle, right = st.columns(3)
all_data = left.checkbox(t("rt.all_data"), value=True, key="rt_all_data")
with friendly_errors():
    default_cutoff = runs.default_cutoff(engine)
cutoff = None if all_data else left.date_input(t("rt.cutoff"), value=default_cutoff, key="rt_cutoff")
k = middle.number_input(t("rt.k"), min_value=1, max_value=50, value=10, step=1, key="rt_k")
with friendly_errors():
    menu_days = runs.upcoming_menu_days(engine, cutoff)
span = right.date_input(t("rt.dates"), value=(menu_days[0], menu_days[-1]) if menu_days else (),
                        key="rt_dates", help=t("rt.dates_help"))
evaluate = left.checkbox(t("rt.evaluate"), value=True, key="rt_evaluate", help=t("rt.evaluate_help"))
activate = middle.checkbox(t("rt.activate"), value=True, key="rt_activate")

with friendly_errors():
    policy_names = policies.list_policies(engine)[C.POLICY_NAME].tolist()
    default_policies = {name: policies.default_policy_name(engine, name) for name in models}
params: dict[str, dict] = {}
chosen_policies: dict[str, str] = {}
for name in models:
    with st.expander(t("rt.params_title", model=name)):
        chosen_policies[name] = st.selectbox(
            t("rt.policy"), policy_names, index=policy_names.index(default_policies[name]),
            key=f"rt_{name}_policy", help=t("rt.policy_help"), format_func=_policy_name)
        columns = st.columns(3)
        params[name] = {}
        for n, (param, (kind, default)) in enumerate(jobs.main_params(name, engine).items()):
            widget, key = columns[n % 3], f"rt_{name}_{param}"
            if kind is int:
                params[name][param] = int(widget.number_input(param, value=int(default), step=1,
                                                              key=key))
            else:
                params[name][param] = float(widget.number_input(param, value=float(default),
                                                                format="%g", key=key))

busy = lock_holder is not None
if busy:
    st.caption(t("rt.busy", job=lock_holder.job_id))
if st.button(t("rt.submit"), type="primary", key="rt_submit",
             disabled=not allowed[access.RETRAIN].allowed or busy or not models,
             help=_help(access.RETRAIN)):
    submit_and_watch(lambda: jobs.RetrainSpec.build(
        models, cutoff=cutoff, k=int(k), dates=jobs.date_span(*span) if span else None, params=params,
        evaluate=evaluate, activate=activate, policies=chosen_policies))

live_job()

# ----------------------------------------------------------------------------------- run history
st.header(t("rt.runs"))
shown = st.selectbox(t("rt.history_model"), [ALL_MODELS, *available], key="rt_history_model",
                     format_func=_model_choice)
with friendly_errors():
    history = runs.run_history(engine, shown)
headline = [name for name in history.columns if name not in runs.HISTORY_COLUMNS]   # "menu mrr", …
history = history.assign(**{
    **{name: [_figure(v) for v in history[name]] for name in headline},           # "–" for a run never evaluated
    C.STARTED_AT: [ui_text.timestamp(v, lang) for v in history[C.STARTED_AT]],    # the UI's one timestamp style
    C.STATUS_LABEL: [_status(v) for v in history[C.STATUS_LABEL]],
    C.DURATION_S: [_seconds(None if pd.isna(v) else v) for v in history[C.DURATION_S]],   # "" while running
    C.JOB_ID: [_figure(v, "d") for v in history[C.JOB_ID]]})                     # a CLI run has no job
st.dataframe(history, hide_index=True, column_config={
    **{name: t(f"rt.col.{name}") for name in (*HISTORY_TEXT, C.STARTED_AT, C.STATUS_LABEL, C.DURATION_S)},
    C.IS_ACTIVE: st.column_config.CheckboxColumn(t(f"rt.col.{C.IS_ACTIVE}")),
    **{name: st.column_config.TextColumn(ui_text.metric_key_label(name, lang),
                                         help=ui_text.metric_meaning(name.partition(" ")[2], lang))
       for name in headline}})

st.subheader(t("rt.act"))
model = st.selectbox(t("rt.act_model"), [*available, ENSEMBLE_MODEL], key="rt_act_model")
with friendly_errors():
    done = runs.done_runs_of(engine, model)
if not done:
    st.info(t("rt.no_done_run", model=model))
else:
    run_id = st.selectbox(t("rt.run"), done, key="rt_act_run", format_func=_run_name)
    with friendly_errors():
        run = runs.get_run(engine, run_id)
    st.caption(t("rt.run_caption", active=t("rt.active" if run.is_active else "rt.not_active"),
                 start=ui_text.day(run.train_start), end=ui_text.day(run.train_end),
                 who=run.triggered_by or t("rt.unknown")))
    b1, b2, b3 = st.columns(3)
    if b1.button(t("rt.activate_run"), key="rt_activate_run",
                 disabled=not allowed[access.ACTIVATE].allowed or run.is_active, help=_help(access.ACTIVATE)):
        with friendly_errors():
            runs.activate_run(engine, run_id, by=person)
        clear_query_caches()
        st.rerun()
    if b2.button(t("rt.publish"), key="rt_publish",
                 disabled=not allowed[access.PUBLISH].allowed or not run.is_active,
                 help=_help(access.PUBLISH, t("rt.publish_help"))):
        with friendly_errors():
            n_rows = runs.publish_run(engine, run_id, by=person)
        st.success(t("rt.published", n=n_rows, run=run_id))
    b3.download_button(t("rt.download"), data=partial(runs.export_parquet, engine, run_id),
                       file_name=f"{model}_run_{run_id}.parquet",
                       mime="application/vnd.apache.parquet", key="rt_download", on_click="ignore")

    shipped = policies.run_policy(run.params)
    st.caption(t("rt.shipped_policy", name=_policy_name(shipped.name), steps=ui_text.policy_steps(shipped, lang)))
    p1, p2 = st.columns([2, 1])
    new_policy = p1.selectbox(t("rt.apply_choice"), policy_names, key="rt_apply_policy", format_func=_policy_name)
    if p2.button(t("rt.apply"), key="rt_apply", disabled=not allowed[access.APPLY_POLICY].allowed or busy,
                 help=_help(access.APPLY_POLICY, t("rt.apply_help"))):
        submit_and_watch(lambda: jobs.RetrainSpec.build(
            [run.model], policies={run.model: new_policy}, apply_to_run=int(run_id), evaluate=False,
            activate=False))

    if len(done) >= 2:
        st.subheader(t("rt.compare_title", model=model))
        c1, c2 = st.columns(2)
        run_a = c1.selectbox(t("rt.run_a"), done, index=1, key="rt_cmp_a", format_func=_run_name)
        run_b = c2.selectbox(t("rt.run_b"), done, index=0, key="rt_cmp_b", format_func=_run_name)
        with friendly_errors():
            comparison = runs.compare_runs(engine, run_a, run_b)
        overlap = comparison.overlap
        m1, m2, m3 = st.columns(3)
        m1.metric(t("rt.users_both"), f"{overlap.n_users:,}")
        m2.metric(t("rt.jaccard"), f"{overlap.mean_jaccard:.2f}", help=t("rt.jaccard_help"))
        m3.metric(t("rt.same_top"), f"{overlap.same_top_pick:.0%}")
        figures = comparison.metrics
        shown_runs = [runs.run_label(r) for r in (run_a, run_b)]
        st.dataframe(figures.assign(**{
            C.METRIC: [ui_text.metric_key_label(m, lang) for m in figures[C.METRIC]],
            **{name: [_figure(v, ",.0f" if m.rpartition(" ")[2].startswith("n_") else ".3f")   # counts whole
                      for m, v in zip(figures[C.METRIC], figures[name])] for name in shown_runs},
            C.CHANGE: [_figure(v, "+.3f") for v in figures[C.CHANGE]]}), hide_index=True, column_config={
                C.METRIC: t(f"rt.col.{C.METRIC}"), C.CHANGE: t(f"rt.col.{C.CHANGE}"),
                **{name: _run_name(r) for name, r in zip(shown_runs, (run_a, run_b))}})

st.subheader(t("rt.ensemble"))
st.caption(t("rt.ensemble_caption"))
with friendly_errors():
    fusable = ensembles.fusable_runs(engine)
labels = {int(run): t("rt.ens_run_label", model=name, run=int(run), day=ui_text.day(cut),
                      active=t("rt.ens_active") if active else "")
          for run, name, cut, active in zip(fusable[C.RUN_ID], fusable[C.MODEL], fusable[C.DATA_CUTOFF],
                                            fusable[C.IS_ACTIVE])}
e1, e2, e3 = st.columns([3, 1, 1])
members = e1.multiselect(t("rt.ens_runs"), list(labels), format_func=labels.get, key="rt_ens_runs",
                         placeholder=t("rt.choose"))
rule = e2.selectbox(t("rt.ens_rule"), ensembles.RULES, key="rt_ens_rule", format_func=_rule_name)
ens_policy = e3.selectbox(t("rt.ens_policy"), policy_names, index=policy_names.index(policies.DEFAULT),
                          key="rt_ens_policy", format_func=_policy_name)
rrf_k = st.number_input(t("rt.rrf_k"), min_value=0.0, value=float(ensembles.DEFAULT_RRF_K), step=10.0,
                        key="rt_ens_k", help=t("rt.rrf_k_help")) if rule == ensembles.RRF else ensembles.DEFAULT_RRF_K
ens_activate = st.checkbox(t("rt.ens_activate"), value=False, key="rt_ens_activate")
if st.button(t("rt.ens_submit"), key="rt_ens_submit",
             disabled=not allowed[access.MAKE_ENSEMBLE].allowed or not members
             or (busy and rule not in ensembles.SYNC_RULES),
             help=_help(access.MAKE_ENSEMBLE)):
    with friendly_errors(), st.spinner(t("rt.ens_spinner")):
        made = ensembles.make_ensemble(engine, members, rule, by=person, policy=ens_policy,
                                       rrf_k=float(rrf_k), activate=ens_activate)
        if made.job_id is not None:
            st.session_state["rt_watching"] = made.job_id
            st.rerun()
        clear_query_caches()
        st.success(t("rt.ens_done", run=made.run_id))

audit_section()

# ----------------------------------------------------------------------------------- leaderboard
st.header(t("nav.leaderboard"))
with friendly_errors():
    board = evaluation.leaderboard(engine, N.DAILY_MENU)
    curves = evaluation.tradeoff_curves(engine)
if board.empty:
    st.info(t("rt.no_eval"))
else:
    st.caption(t("rt.board_caption"))
    k_eval = int(evaluation.evaluation_splits(engine)[N.K].iloc[0])
    shown_metrics = [m for m in headline_keys(N.DAILY_MENU, k_eval) if m in board.columns]
    table = board[[c for c in (C.MODEL, N.BASELINE, C.RUN_ID) if c in board.columns] + shown_metrics]
    st.dataframe(table.assign(**{C.RUN_ID: [_figure(v, "d") for v in table[C.RUN_ID]],     # random: no run
                                 **{m: [_figure(v) for v in table[m]] for m in shown_metrics}}),
                 hide_index=True, column_config={
                     C.MODEL: t("lb.model"), C.RUN_ID: t("lb.run"),
                     N.BASELINE: st.column_config.CheckboxColumn(t("lb.baseline")),
                     **{m: st.column_config.TextColumn(ui_text.metric_name(m, lang),
                                                       help=ui_text.metric_meaning(m, lang))
                        for m in shown_metrics}})
    if not curves.empty:
        chart = px.line(curves, x=N.ILD, y=N.NDCG, color=C.MODEL, markers=True,
                        hover_data=[C.MMR_LAMBDA, C.RUN_ID],
                        labels={N.ILD: ui_text.metric_name(N.ILD, lang),
                                N.NDCG: ui_text.metric_name(N.at_k(N.NDCG, k_eval), lang),
                                C.MODEL: t("lb.model"), C.MMR_LAMBDA: t("rt.mmr_lambda"), C.RUN_ID: t("lb.run")},
                        title=t("rt.tradeoff_title"))
        st.plotly_chart(chart, width="stretch")
