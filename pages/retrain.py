"""Retrain & runs: retrain models as a background job, watch it live, and manage the runs it made.

UI only: the job machinery, the run history and the comparisons live in ``kurrant_core.jobs``.
Anyone may look; every write (retrain, cancel, activate, publish, apply a policy) is allowed or
refused by ``kurrant_core.access`` for the person in the sidebar, and the library checks it again.
"""
from functools import partial

import plotly.express as px
import streamlit as st

from app_support import audit_section, can, clear_query_caches, current_person, de_engine, friendly_errors, t
from kurrant_core import access, columns as C, ensembles, evaluation, jobs, policies, runs, ui_text
from kurrant_core.db import check_ready
from kurrant_core.ensembles import ENSEMBLE_MODEL
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import names as N
from kurrant_core.models import MODEL_NAMES, model_available

FAST_DEFAULT = ["popularity", "content"]
ALL_MODELS = "all models"

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
    st.info(allowed[access.RETRAIN].reason, icon="🔒")


def _help(action: str, otherwise: str | None = None) -> str | None:
    """A disabled control's tooltip says why; an enabled one keeps its own help."""
    return otherwise if allowed[action].allowed else allowed[action].reason


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f} s"


def submit_and_watch(build_spec) -> None:
    """Submit the job ``build_spec()`` describes and follow it; a refusal is shown, not raised."""
    try:
        job_id = jobs.submit(engine, build_spec(), by=person)
    except KurrantError as exc:
        st.error(str(exc))
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
            st.caption("No retrain job yet.")
            return
        view = jobs.job_progress(engine, job.job_id)
    by = f" by {job.triggered_by}" if job.triggered_by else ""
    st.markdown(f"**Job {job.job_id}**{by} · **{job.status_label}** · {job.stage or ''} · "
                f"{_seconds(job.elapsed_s())}")
    for model in view.models:
        st.progress(model.fraction, text=f"{model.model} — {model.state} {_seconds(model.elapsed_s)}")
    if job.is_running:
        if st.button("Cancel", key="rt_cancel", disabled=not allowed[access.CANCEL].allowed or job.cancel_requested,
                     help=_help(access.CANCEL)):
            with friendly_errors():
                jobs.request_cancel(engine, job.job_id, by=person)
            st.toast(f"Job {job.job_id} stops at its next check.")
        if job.cancel_requested:
            st.caption("Cancel requested: the job stops after its current step.")
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
                        key="rt_models")
left, middle, right = st.columns(3)
all_data = left.checkbox("Train on every order", value=True, key="rt_all_data")
with friendly_errors():
    default_cutoff = runs.default_cutoff(engine)
cutoff = None if all_data else left.date_input("Train on orders before", value=default_cutoff,
                                               key="rt_cutoff")
k = middle.number_input("List length k", min_value=1, max_value=50, value=10, step=1, key="rt_k")
with friendly_errors():
    menu_days = runs.upcoming_menu_days(engine, cutoff)
span = right.date_input("Service dates to pre-compute", value=(menu_days[0], menu_days[-1])
                        if menu_days else (), key="rt_dates",
                        help="Each day's menu is ranked for every user of the groups served.")
evaluate = left.checkbox("Store evaluation metrics", value=True, key="rt_evaluate",
                         help="Scores each model on the last 14 days (fits it once more).")
activate = middle.checkbox("Activate the new runs when the job is done", value=True,
                           key="rt_activate")

with friendly_errors():
    policy_names = policies.list_policies(engine)[C.POLICY_NAME].tolist()
params: dict[str, dict] = {}
chosen_policies: dict[str, str] = {}
for name in models:
    with st.expander(f"{name} hyper-parameters and diversity policy"):
        chosen_policies[name] = st.selectbox(
            "Diversity policy of its lists", policy_names, index=policy_names.index(policies.DEFAULT),
            key=f"rt_{name}_policy", help="The lists the run writes (and publish ships) are the model's "
            "scores re-ranked by this policy; 'off' keeps the model's own order.")
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
    st.caption(f"Job {lock_holder.job_id} is running; one retrain runs at a time.")
if st.button("Retrain", type="primary", key="rt_submit",
             disabled=not allowed[access.RETRAIN].allowed or busy or not models,
             help=_help(access.RETRAIN)):
    submit_and_watch(lambda: jobs.RetrainSpec.build(
        models, cutoff=cutoff, k=int(k), dates=jobs.date_span(*span) if span else None, params=params,
        evaluate=evaluate, activate=activate, policies=chosen_policies))

live_job()

# ----------------------------------------------------------------------------------- run history
st.header(t("rt.runs"))
shown = st.selectbox("Model", [ALL_MODELS, *available], key="rt_history_model")
with friendly_errors():
    history = runs.run_history(engine, None if shown == ALL_MODELS else shown)
st.dataframe(history, hide_index=True, column_config={
    "started_at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),     # the UI's one timestamp style
    C.DURATION_S: st.column_config.NumberColumn("duration", format="%.0f s"),
    C.STATUS_LABEL: "status", runs.IS_ACTIVE: st.column_config.CheckboxColumn("active")})

st.subheader(t("rt.act"))
model = st.selectbox("Run of model", [*available, ENSEMBLE_MODEL], key="rt_act_model")
with friendly_errors():
    done = runs.done_runs_of(engine, model)
if not done:
    st.info(f"{model} has no finished run yet; retrain it above.")
else:
    run_id = st.selectbox("Run", done, key="rt_act_run", format_func=lambda r: f"run {r}")
    with friendly_errors():
        run = runs.get_run(engine, run_id)
    st.caption(f"{'Active' if run.is_active else 'Not active'} · trained on {run.train_start} – "
               f"{run.train_end} · by {run.triggered_by or 'unknown'}")
    b1, b2, b3 = st.columns(3)
    if b1.button("Activate", key="rt_activate_run", disabled=not allowed[access.ACTIVATE].allowed or run.is_active,
                 help=_help(access.ACTIVATE)):
        with friendly_errors():
            runs.activate_run(engine, run_id, by=person)
        clear_query_caches()
        st.rerun()
    if b2.button("Publish to the backend", key="rt_publish",
                 disabled=not allowed[access.PUBLISH].allowed or not run.is_active,
                 help=_help(access.PUBLISH, "Copies the run's dated lists into recommend__user_recommends; "
                                            "only the active run can be published.")):
        with friendly_errors():
            n_rows = runs.publish_run(engine, run_id, by=person)
        st.success(f"Published {n_rows:,} rows of run {run_id}.")
    b3.download_button("Download Parquet", data=partial(runs.export_parquet, engine, run_id),
                       file_name=f"{model}_run_{run_id}.parquet",
                       mime="application/vnd.apache.parquet", key="rt_download", on_click="ignore")

    shipped = policies.run_policy(run.params)
    st.caption(f"Diversity policy of its lists: **{shipped.name}** — {shipped.steps_text()}")
    p1, p2 = st.columns([2, 1])
    new_policy = p1.selectbox("Apply another policy to this run (a new run, no refit)", policy_names,
                              key="rt_apply_policy")
    if p2.button("Apply policy", key="rt_apply", disabled=not allowed[access.APPLY_POLICY].allowed or busy,
                 help=_help(access.APPLY_POLICY, "Runs as a job, like a retrain.")):
        submit_and_watch(lambda: jobs.RetrainSpec.build(
            [run.model], policies={run.model: new_policy}, apply_to_run=int(run_id), evaluate=False,
            activate=False))

    if len(done) >= 2:
        st.subheader(f"Compare two {model} runs")
        c1, c2 = st.columns(2)
        run_a = c1.selectbox("Run A", done, index=1, key="rt_cmp_a", format_func=lambda r: f"run {r}")
        run_b = c2.selectbox("Run B", done, index=0, key="rt_cmp_b", format_func=lambda r: f"run {r}")
        with friendly_errors():
            comparison = runs.compare_runs(engine, run_a, run_b)
        overlap = comparison.overlap
        m1, m2, m3 = st.columns(3)
        m1.metric("Users in both", f"{overlap.n_users:,}")
        m2.metric("Mean list overlap (Jaccard)", f"{overlap.mean_jaccard:.2f}")
        m3.metric("Same top pick", f"{overlap.same_top_pick:.0%}")
        st.dataframe(comparison.metrics, hide_index=True)

st.subheader(t("rt.ensemble"))
st.caption("Fuse done runs of one cutoff into a new run (written, activated and published like any run). "
           "rrf and blend take seconds from the stored lists; stacked learns its weights on the validation "
           "window and runs as a job.")
with friendly_errors():
    fusable = ensembles.fusable_runs(engine)
labels = dict(zip(fusable[C.RUN_ID].tolist(), fusable[C.LIST_LABEL]))
e1, e2, e3 = st.columns([3, 1, 1])
members = e1.multiselect("Runs to fuse", list(labels), format_func=labels.get, key="rt_ens_runs")
rule = e2.selectbox("Rule", ensembles.RULES, key="rt_ens_rule")
ens_policy = e3.selectbox("Diversity policy after the fusion", policy_names,
                          index=policy_names.index(policies.DEFAULT), key="rt_ens_policy")
rrf_k = st.number_input("RRF k", min_value=0.0, value=float(ensembles.DEFAULT_RRF_K), step=10.0,
                        key="rt_ens_k") if rule == ensembles.RRF else ensembles.DEFAULT_RRF_K
ens_activate = st.checkbox("Activate the ensemble run", value=False, key="rt_ens_activate")
if st.button("Make the ensemble", key="rt_ens_submit",
             disabled=not allowed[access.MAKE_ENSEMBLE].allowed or not members
             or (busy and rule not in ensembles.SYNC_RULES),
             help=_help(access.MAKE_ENSEMBLE)):
    with friendly_errors(), st.spinner("Fusing the runs…"):
        made = ensembles.make_ensemble(engine, members, rule, by=person, policy=ens_policy,
                                       rrf_k=float(rrf_k), activate=ens_activate)
        if made.job_id is not None:
            st.session_state["rt_watching"] = made.job_id
            st.rerun()
        clear_query_caches()
        st.success(f"Ensemble run {made.run_id} is done.")

audit_section()

# ----------------------------------------------------------------------------------- leaderboard
st.header(t("nav.leaderboard"))
with friendly_errors():
    board = evaluation.leaderboard(engine, N.DAILY_MENU)
    curves = evaluation.tradeoff_curves(engine)
if board.empty:
    st.info("No evaluated run yet: retrain with “Store evaluation metrics” on, or run "
            "`python -m kurrant_core evaluate --models all`.")
else:
    st.caption("The latest evaluated run of each model on the newest split, ranked by daily-menu "
               "MRR (how high the chosen food sat in that day's ranked menu).")
    k_eval = int(evaluation.evaluation_splits(engine)[N.K].iloc[0])
    st.dataframe(board[evaluation.summary_columns(board, N.DAILY_MENU, k_eval)], hide_index=True)
    if not curves.empty:
        chart = px.line(curves, x=N.ILD, y=N.NDCG, color=C.MODEL, markers=True,
                        hover_data=[C.MMR_LAMBDA, C.RUN_ID],
                        labels={N.ILD: "intra-list diversity", N.NDCG: f"NDCG@{k_eval}"},
                        title="Accuracy vs diversity (MMR re-ranking)")
        st.plotly_chart(chart, width="stretch")
