"""Diversity policies: one validated type, stored by name, applied when a run writes its lists,
and measured per group-day (convergence)."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import team_person

from kurrant_core import cli, columns as C, runs, schema as S
from kurrant_core.compare.runs import load_run_model
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation.convergence import convergence_summary, group_day_table
from kurrant_core.policies import (
    DEFAULT,
    apply_policy,
    get_policy,
    list_policies,
    parse_policy,
    run_policy,
    save_policy,
    spread_first_picks,
)
from kurrant_core.rerank import CandidateSet, Policy, RerankResult
from kurrant_core.runs import apply_policy_to_run


# ------------------------------------------------------------------------------ the type
def test_a_malformed_policy_is_refused_with_the_reason():
    for text, reason in [('{"calibration_lambda": 2}', "between 0 and 1"),
                         ('{"colour": "red"}', "Unknown policy setting colour"),
                         ('{"max_per_maker": 1.5}', "must be a int"),
                         ('{"version": 9}', "version 9"),
                         ("{not json", "not valid JSON"),
                         ('[1, 2]', "JSON object")]:
        with pytest.raises(KurrantError, match=reason):
            parse_policy(text, "p")


def test_policy_round_trips_and_knobs_map_neutral_values_to_off():
    policy = Policy(name="p", calibration_lambda=0.2, max_per_maker=3, spread_max_share=0.5)
    assert parse_policy(json.dumps(policy.to_dict())) == policy
    assert policy.knobs()["mmr_lambda"] == 1.0 and policy.knobs()["max_per_category"] == 0
    assert Policy.from_knobs("p", **policy.knobs()) == replace(policy, spread_max_share=None)
    assert not Policy().reranks and policy.reranks
    assert "calibration 0.2" in policy.steps_text() and "50%" in policy.steps_text()


# ------------------------------------------------------------------------------ the group spread
def _picked(user: int, foods: list[int], scores: list[float]):
    pool = CandidateSet(food_ids=np.array(foods), relevance=np.array(scores), features=np.eye(len(foods)),
                        category=np.zeros(len(foods), int), maker=np.array(foods), user_id=user)
    result = RerankResult(positions=np.arange(len(foods)), food_ids=np.array(foods),
                          scores=np.array(scores), n_allergen_removed=0, n_recent_removed=0,
                          shortfall=0, note="")
    return pool, result


class _OneGroup:
    """The bits of TrainingData the spread reads: every user in group 7."""

    def __init__(self, users):
        self.user_ids = np.array(sorted(users))
        self.user_group = np.full(len(users), 7)

    def user_indices(self, ids):
        return np.searchsorted(self.user_ids, ids)


def test_spread_moves_the_users_who_give_up_least():
    # four users all put food 1 first; margins to their #2: 0.5, 0.1, 0.3, 0.05.
    # At most half (2) may keep food 1: the two smallest margins (users 4 and 2) move to their #2.
    picks = {1: _picked(1, [1, 2], [1.0, 0.5]), 2: _picked(2, [1, 3], [1.0, 0.9]),
             3: _picked(3, [1, 2], [1.0, 0.7]), 4: _picked(4, [1, 3], [1.0, 0.95])}
    out = spread_first_picks(picks, _OneGroup(picks), 0.5)
    firsts = {u: int(r.food_ids[0]) for u, (_, r) in out.items()}
    assert firsts == {1: 1, 2: 3, 3: 1, 4: 3}
    assert list(out[2][1].food_ids) == [3, 1]             # the list is the same foods, swapped


def test_convergence_by_hand():
    # group 1 on one day: 4 users' #1 are A, A, A, B -> 2 distinct, top share 3/4 (a majority);
    # actual orders A, B, C, C -> top share 1/2, no majority. Makers: picks m1 3/4 m2 1/4,
    # orders m1 1/4 m2 1/4 m3 1/2 -> TV distance (1/2 + 0 + 1/2) / 2 = 1/2
    day = pd.Timestamp("2026-10-01")
    key = {C.GROUP_ID: 1, C.SERVICE_DATE: day, C.DINING_TYPE: 2}
    picks = pd.DataFrame([{**key, C.USER_ID: u, C.FOOD_ID: f, C.MAKERS_ID: m}
                          for u, f, m in [(1, "A", 1), (2, "A", 1), (3, "A", 1), (4, "B", 2)]])
    orders = pd.DataFrame([{**key, C.USER_ID: u, C.FOOD_ID: f, C.MAKERS_ID: m}
                           for u, f, m in [(1, "A", 1), (2, "B", 2), (3, "C", 3), (4, "C", 3)]])
    table = group_day_table(picks, orders)
    row = table.iloc[0]
    assert row["distinct_first_picks"] == 2 and row["top_pick_share"] == pytest.approx(0.75)
    assert row["majority_pick_days"] and not row["majority_order_days"]
    assert row["maker_gap"] == pytest.approx(0.5)
    summary = convergence_summary(table)
    assert summary["majority_pick_days"] == 1.0 and summary["majority_order_days"] == 0.0


# ------------------------------------------------------------------------------ runs with a policy
def test_policies_are_stored_by_name_and_off_cannot_be_redefined(engine):
    save_policy(engine, Policy(name="calm", calibration_lambda=0.2), by=team_person("ana"))
    assert get_policy(engine, "calm") == Policy(name="calm", calibration_lambda=0.2)
    assert get_policy(engine, DEFAULT).name == DEFAULT            # built in until one is saved
    listed = list_policies(engine).set_index(C.POLICY_NAME)
    assert listed.loc["calm", "saved_by"] == "ana" and "calibration 0.2" in listed.loc["calm", C.POLICY_STEPS]
    with pytest.raises(KurrantError, match="built-in"):
        save_policy(engine, Policy(name="off", mmr_lambda=0.5), by=team_person("ana"))
    with pytest.raises(KurrantError, match="No policy is called 'nope'"):
        get_policy(engine, "nope")
    assert cli.main(["--url", engine.url.render_as_string(hide_password=False), "policy", "save", "bad",
                     "--set", "calibration_lambda=3"]) == 2
    with engine.connect() as conn:                                # the bad one wrote nothing
        names = conn.execute(sa.select(S.rec_policy.c[C.POLICY_NAME])).scalars().all()
    assert names == ["calm"]


def test_a_runs_rows_are_its_policys_lists_recomputed_from_the_model(engine):
    policy = Policy(name="mixed", calibration_lambda=0.5, max_per_maker=2, mmr_lambda=0.8,
                    spread_max_share=0.5)
    run_id = runs.train_and_write(engine, "popularity", {}, k=5, triggered_by="test", policy=policy)
    run = runs.get_run(engine, run_id)
    assert run_policy(run.params) == policy
    rows = runs.read_recommendations(engine, run_id, with_raw_score=True)
    model = load_run_model(engine, run_id)
    catalog = rows[rows[C.SERVICE_DATE].isna()]
    users = catalog[C.USER_ID].unique()[:40]
    again = apply_policy(model, model.data_, users, 5, policy)
    mine = catalog[catalog[C.USER_ID].isin(users)]
    assert mine[[C.USER_ID, C.FOOD_ID, C.RANK]].to_numpy().tolist() == \
        again[[C.USER_ID, C.FOOD_ID, C.RANK]].to_numpy().tolist()
    assert mine[C.RAW_SCORE].to_numpy() == pytest.approx(again[C.RAW_SCORE].to_numpy(), rel=1e-5)  # FLOAT
    plain = model.recommend(users, 5)
    assert set(map(tuple, plain[[C.USER_ID, C.FOOD_ID]].to_numpy().tolist())) != \
        set(map(tuple, mine[[C.USER_ID, C.FOOD_ID]].to_numpy().tolist()))    # the policy moved lists
    day = rows[C.SERVICE_DATE].dropna().iloc[0]           # a menu day: the group spread holds
    menu = rows[(rows[C.SERVICE_DATE] == day) & (rows[C.RANK] == 1)]
    for _, group in menu.groupby([C.GROUP_ID, C.DINING_TYPE]):
        limit = max(1, int(np.floor(0.5 * len(group))))
        assert group[C.FOOD_ID].value_counts().max() <= limit or group[C.FOOD_ID].nunique() == 1


def test_applying_a_policy_makes_a_new_run_without_refitting(engine):
    source = runs.train_and_write(engine, "history", {}, k=5, triggered_by="test",
                                  policy=get_policy(engine, "off"))
    runs.activate_run(engine, source, by=team_person())
    new = apply_policy_to_run(engine, source, get_policy(engine, DEFAULT), triggered_by="test")
    run = runs.get_run(engine, new)
    assert run.is_done and run.params["policy_applied_to"] == source
    assert run.params["policy"]["name"] == DEFAULT
    same = ("data_cutoff", "train_start", "train_end", "n_users", "n_items", "metrics")
    assert [getattr(run, f) for f in same] == [getattr(runs.get_run(engine, source), f) for f in same]
    before, after = (runs.read_recommendations(engine, r, with_raw_score=True) for r in (source, new))
    assert len(after) == len(before)                      # same users, k and menu days
    assert set(after[C.SERVICE_DATE].dropna()) == set(before[C.SERVICE_DATE].dropna())
    assert (before[C.RAW_SCORE] == before[C.SCORE]).all()          # off: the model's own score
    assert runs.get_run(engine, source).is_active                # the source run stays active


def test_applying_a_policy_to_a_run_without_its_model_fails_clearly(engine):
    source = runs.train_and_write(engine, "popularity", {}, k=5, triggered_by="test")
    runs.activate_run(engine, source, by=team_person())
    shutil.rmtree(runs.get_run(engine, source).artifact_path)
    with pytest.raises(KurrantError, match="saved model .* is gone"):
        apply_policy_to_run(engine, source, get_policy(engine, DEFAULT))
    listed = runs.list_runs(engine)
    assert len(listed) == 1 and runs.get_run(engine, source).is_active


def test_apply_policy_as_a_job_takes_the_lock_and_activates_nothing_by_default(engine):
    from kurrant_core import jobs
    source = runs.train_and_write(engine, "popularity", {}, k=5, triggered_by="test")
    runs.activate_run(engine, source, by=team_person())
    with pytest.raises(KurrantError, match="No policy is called"):
        jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], policies={"popularity": "nope"},
                                                   apply_to_run=source), by=team_person("t"), launch=False)
    spec = jobs.RetrainSpec.build(["popularity"], policies={"popularity": "off"}, apply_to_run=source,
                                  evaluate=False, activate=False)
    job_id = jobs.submit(engine, spec, by=team_person("ana"), launch=False)
    with pytest.raises(KurrantError, match="retraining"):          # the job holds the lock
        apply_policy_to_run(engine, source, get_policy(engine, "off"))
    jobs.run_job(engine, job_id)
    new = int(runs.list_runs(engine).iloc[0][C.RUN_ID])
    run = runs.get_run(engine, new)
    assert run.is_done and run.params["policy"]["name"] == "off" and run.job_id == job_id
    assert runs.get_run(engine, source).is_active and not run.is_active
    assert jobs.holder(engine) is None


def test_the_spread_works_for_a_pick_of_the_day_list_of_one(engine):
    """k = 1 (the AI pick alone) still spreads: each user's second choice is ranked, then cut."""
    from kurrant_core.data import build_training_data
    from kurrant_core.models import make_model
    data = build_training_data(engine)
    model = make_model("popularity").fit(data)
    day = data.menus[data.menus[C.SERVICE_DATE] >= pd.Timestamp(data.cutoff)][C.SERVICE_DATE].min().date()
    users = data.user_ids[~data.cold]
    plain = apply_policy(model, data, users, 1, Policy(name="p", calibration_lambda=0.1), service_date=day)
    spread = apply_policy(model, data, users, 1, Policy(name="p", calibration_lambda=0.1,
                                                        spread_max_share=0.5), service_date=day)
    assert (spread.groupby(C.USER_ID).size() == 1).all()
    def top(frame):
        return frame.groupby(C.GROUP_ID)[C.FOOD_ID].agg(lambda f: f.value_counts().iloc[0] / len(f))
    assert (top(spread) <= np.maximum(0.5, 1 / spread.groupby(C.GROUP_ID).size()) + 1e-9).all()
    assert top(plain).max() > 0.5                          # popularity alone converges


def test_caps_never_cut_a_shipped_list_short():
    """One maker, a cap of 2 per maker, k = 4: the rerank stops at 2, the shipped list goes on
    with the other foods in the model's order."""
    from kurrant_core.policies import _filled
    from kurrant_core.rerank import rerank
    pool = CandidateSet(food_ids=np.array([10, 11, 12, 13, 14]), relevance=np.array([0.9, 0.8, 0.7, 0.6, 0.5]),
                        features=np.eye(5), category=np.zeros(5, int), maker=np.ones(5, int),
                        allergen=np.array([False, False, True, False, False]))
    policy = Policy(name="p", k=4, max_per_maker=2)
    capped = rerank(pool, policy)
    assert capped.food_ids.tolist() == [10, 11] and capped.shortfall == 2
    shipped = _filled(pool, capped, 4, policy)
    assert shipped.food_ids.tolist() == [10, 11, 13, 14]          # the allergen (12) stays out
    assert list(shipped.scores) == sorted(shipped.scores, reverse=True)


# ------------------------------------------------------------------------------ choosing the default
def _measured(candidate, model, mrr, ndcg, calibration, coverage=0.5, picks=0.05, orders=0.10, share=0.5,
              history_share=0.5, whole_history_share=0.46):
    from kurrant_core.evaluation import policy_choice as PC
    figures = dict(zip(PC.FIGURES, (mrr, ndcg, calibration, coverage, picks, orders, share, history_share,
                                    whole_history_share)))
    return {C.MODEL: model, PC.CANDIDATE: candidate, **figures}


def _rows(*shipped):
    from kurrant_core.evaluation import policy_choice as PC
    off = {m: _measured(None, m, 0.80, 0.40, 1.0) for m in ("a", "b")}
    rows = list(off.values())
    for row in shipped:
        row["within_budget"] = PC.within_budget(row, off[row[C.MODEL]])
        rows.append(row)
    return pd.DataFrame(rows)


def test_the_chooser_never_takes_a_policy_that_breaks_the_budget_for_any_model():
    from kurrant_core.evaluation.policy_choice import select_candidate
    rows = _rows(  # 0: best calibration but model b loses 6 % NDCG; 1: within budget for both
        _measured(0, "a", 0.80, 0.40, 0.2), _measured(0, "b", 0.80, 0.375, 0.2),
        _measured(1, "a", 0.79, 0.39, 0.6), _measured(1, "b", 0.785, 0.385, 0.6))
    assert select_candidate(rows) == 1
    # MRR 2.5 % below for one model: nothing keeps the budget
    assert select_candidate(_rows(_measured(0, "a", 0.78, 0.40, 0.2), _measured(0, "b", 0.80, 0.40, 0.2))) is None


def test_the_chooser_prefers_calm_picks_then_lists_as_varied_as_users_then_calibration():
    from kurrant_core.evaluation.policy_choice import select_candidate
    rows = _rows(
        _measured(0, "a", 0.80, 0.40, 0.1, picks=0.2), _measured(0, "b", 0.80, 0.40, 0.1),     # converges
        _measured(1, "a", 0.80, 0.40, 0.3, share=0.6), _measured(1, "b", 0.80, 0.40, 0.3),     # narrower
        _measured(2, "a", 0.80, 0.40, 0.5, share=0.4), _measured(2, "b", 0.80, 0.40, 0.5, share=0.5),
        _measured(3, "a", 0.80, 0.40, 0.45, share=0.4), _measured(3, "b", 0.80, 0.40, 0.45, share=0.45))
    assert select_candidate(rows) == 3          # calm and varied for both; lower calibration error than 2


def test_the_chooser_prefers_lists_as_varied_as_whole_histories_over_the_last_ten_meals():
    from kurrant_core.evaluation.policy_choice import select_candidate
    rows = _rows(   # 0: as varied as the last ten meals only (0.5 > 0.46); 1: as the whole histories
        _measured(0, "a", 0.80, 0.40, 0.1, share=0.5), _measured(0, "b", 0.80, 0.40, 0.1, share=0.5),
        _measured(1, "a", 0.80, 0.39, 0.3, share=0.4), _measured(1, "b", 0.80, 0.39, 0.3, share=0.4))
    assert select_candidate(rows) == 1
    # ... unless that breaks the budget for one model: then the next tier decides
    rows = _rows(
        _measured(0, "a", 0.80, 0.40, 0.1, share=0.5), _measured(0, "b", 0.80, 0.40, 0.1, share=0.5),
        _measured(1, "a", 0.80, 0.39, 0.3, share=0.4), _measured(1, "b", 0.80, 0.37, 0.3, share=0.4))
    assert select_candidate(rows) == 0


def test_each_model_gets_its_most_varied_policy_within_its_own_budget():
    from kurrant_core.evaluation.policy_choice import select_per_model
    rows = _rows(   # 1 is as varied as the histories but costs model b 7.5 % of NDCG
        _measured(0, "a", 0.80, 0.40, 0.1, share=0.5), _measured(0, "b", 0.80, 0.40, 0.1, share=0.5),
        _measured(1, "a", 0.80, 0.39, 0.3, share=0.4), _measured(1, "b", 0.80, 0.37, 0.3, share=0.4))
    assert select_per_model(rows) == {"a": 1, "b": 0}


def test_a_model_without_a_saved_default_ships_its_own_evaluated_choice(engine):
    from kurrant_core import policies
    assert policies.default_policy_name(engine, "sequential") == policies.VARIED
    assert policies.default_policy_name(engine, "hybrid") == policies.DEFAULT
    assert policies.get_policy(engine, policies.VARIED).cap_by_history is True
    # a team-saved 'default' is every model's default
    policies.save_policy(engine, Policy(name=policies.DEFAULT, calibration_lambda=0.3), by=team_person())
    assert policies.default_policy_name(engine, "sequential") == policies.DEFAULT


def test_policy_choose_per_model_measures_default_and_varied_for_each_model(engine, capsys):
    from kurrant_core import policies
    url = engine.url.render_as_string(hide_password=False)
    code = cli.main(["--url", url, "policy", "choose", "--per-model", "--models", "popularity,history",
                     "--users", "60"])
    out = capsys.readouterr().out
    assert code == 0
    for model in ("popularity", "history"):
        assert f"{model}'s own choice: " in out
        assert sum(line.split()[0] == model for line in out.splitlines() if line.strip()) == 3   # off + 2
    assert policies.VARIED_POLICY.steps_text() in out and policies.DEFAULT_POLICY.steps_text() in out
