"""Ensembles: the fusion rules by hand, members refused with a message and nothing written, an
ensemble of one run equals it, the allergy filter after fusion, stacking blind to the test window,
and ensemble runs in the shared format on both backends."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import team_person

from kurrant_core import cli, columns as C, runs, schema as S
from kurrant_core.codes import parse_codes
from kurrant_core.ensembles import ENSEMBLE_KEY, build_ensemble, fusion, load_ensemble
from kurrant_core.errors import EnsembleRefused
from kurrant_core.evaluation import split as split_module
from kurrant_core.evaluation.split import TimeSplit
from kurrant_core.policies import BUILTIN, POLICY_KEY
from kurrant_core.rerank import OFF

LIST = [C.USER_ID, C.SERVICE_DATE, C.DINING_TYPE, C.FOOD_ID, C.RANK]


# ------------------------------------------------------------------------------ the rules by hand
def test_rrf_by_hand_with_a_partial_list():
    # member A ranks foods (x, y, z) 1, 2, 3; member B lists only z (1) and x (2)
    a = np.array([0.9, 0.5, 0.1])
    b = np.array([0.3, np.nan, 0.8])
    fused = fusion.fuse(fusion.RRF, [a, b], rrf_k=1)
    assert fused == pytest.approx([1 / 2 + 1 / 3, 1 / 3, 1 / 4 + 1 / 2])
    weighted = fusion.fuse(fusion.RRF, [a, b], rrf_k=60, weights=[2, 1])
    assert weighted == pytest.approx([2 / 61 + 1 / 62, 2 / 62, 2 / 63 + 1 / 61])
    assert np.isnan(fusion.fuse(fusion.RRF, [np.array([np.nan]), np.array([np.nan])])[0])


def test_blend_by_hand_min_max_per_list_and_missing_counts_zero():
    a = np.array([[4.0, 2.0, 0.0]])          # normalised 1, 0.5, 0
    b = np.array([[np.nan, 10.0, 30.0]])     # normalised -, 0, 1
    fused = fusion.fuse(fusion.BLEND, [a, b], weights=[0.25, 0.75])
    assert fused[0] == pytest.approx([0.25, 0.125, 0.75])
    flat = fusion.normalised(np.array([3.0, 3.0, np.nan]))   # equal scores: all listed foods 1
    assert flat[:2] == pytest.approx([1.0, 1.0]) and np.isnan(flat[2])


def test_bad_rules_and_weights_are_refused():
    with pytest.raises(Exception, match="Unknown ensemble rule"):
        fusion.check_rule("vote")
    with pytest.raises(Exception, match="one per member"):
        fusion.check_rule(fusion.BLEND, weights=[1.0], n_members=2)
    with pytest.raises(Exception, match=">= 0"):
        fusion.check_rule(fusion.BLEND, weights=[-1.0, 2.0], n_members=2)


# ------------------------------------------------------------------------------ runs
def _n_runs(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(S.rec_run)).scalar()


def _lists(engine, run_id) -> pd.DataFrame:
    return runs.read_recommendations(engine, run_id)[LIST].reset_index(drop=True)


@pytest.mark.parametrize("rule", [fusion.RRF, fusion.BLEND])
def test_an_ensemble_of_one_run_equals_that_run(engine, rule, backend):
    if backend != "sqlite" and rule == fusion.BLEND:
        pytest.skip("one backend is enough for the second rule")
    member = runs.train_and_write(engine, "history", k=5, policy=BUILTIN[OFF], triggered_by="test")
    ensemble = build_ensemble(engine, [member], rule, policy=OFF)
    mine, theirs = _lists(engine, ensemble), _lists(engine, member)
    assert len(theirs) and theirs[C.SERVICE_DATE].notna().any()      # catalog and menu days
    pd.testing.assert_frame_equal(mine, theirs)


def test_members_on_different_cutoffs_are_refused_and_nothing_is_written(engine):
    late = runs.train_and_write(engine, "popularity", k=3, triggered_by="test")
    cutoff = runs.get_run(engine, late).data_cutoff
    early = runs.train_and_write(engine, "popularity", k=3, cutoff=cutoff - timedelta(days=7), triggered_by="test")
    before = _n_runs(engine)
    with pytest.raises(EnsembleRefused, match="different cutoffs"):
        build_ensemble(engine, [int(early), int(late)], fusion.RRF)
    with pytest.raises(EnsembleRefused, match="does not exist"):
        build_ensemble(engine, [int(late), 9999], fusion.RRF)
    with pytest.raises(EnsembleRefused, match="no active done run"):
        build_ensemble(engine, "content", fusion.RRF)
    url = engine.url.render_as_string(hide_password=False)
    assert cli.main(["--url", url, "ensemble", "--members", f"{early},{late}", "--rule", "rrf"]) == 2
    assert _n_runs(engine) == before


def test_the_allergy_filter_holds_after_fusion(engine):
    member = runs.train_and_write(engine, "popularity", k=5, policy=BUILTIN[OFF], triggered_by="test")
    with engine.connect() as conn:
        users = pd.DataFrame(conn.execute(sa.select(S.mart_user.c[C.USER_ID], S.mart_user.c[C.ALLERGY_TAGS])
                                          .where(S.mart_user.c[C.ALLERGY_TAGS] != "")).all())
        foods = pd.DataFrame(conn.execute(sa.select(S.mart_food.c[C.FOOD_ID], S.mart_food.c[C.MAKERS_ID],
                                                    S.mart_food.c[C.ALLERGY_TAGS])).all())
    rows = runs.read_recommendations(engine, member, catalog_only=True)
    pair = next((u, f, m) for u, tags in zip(users[C.USER_ID], users[C.ALLERGY_TAGS])
                if u in set(rows[C.USER_ID])
                for f, m, ftags in zip(foods[C.FOOD_ID], foods[C.MAKERS_ID], foods[C.ALLERGY_TAGS])
                if set(parse_codes(tags)) & set(parse_codes(ftags)))
    user, food, maker = (int(x) for x in pair)
    with engine.begin() as conn:            # a broken member row, on top of the user's catalog list
        conn.execute(sa.insert(S.rec_user_recommend).values(
            run_id=member, user_id=user, group_id=None, service_date=None, dining_type=None,
            food_id=food, makers_id=maker, rank=99, score=1e6, raw_score=1e6))
    ensemble = build_ensemble(engine, [member], fusion.RRF, policy=OFF)
    shipped = runs.read_recommendations(engine, ensemble, user_id=user, catalog_only=True)
    assert len(shipped) and food not in set(shipped[C.FOOD_ID])


def test_stacking_never_reads_the_test_window(engine, monkeypatch):
    from kurrant_core.ensembles.stacking import stacked_weights
    from kurrant_core.models import make_model
    test = TimeSplit(runs.get_run(engine, runs.train_and_write(engine, "popularity", k=3,
                                                               triggered_by="test")).data_cutoff
                     - timedelta(days=10), 7)
    seen = []
    build, read = split_module.build_training_data, split_module.read_test_items
    monkeypatch.setattr(split_module, "build_training_data",
                        lambda eng, cutoff, **kw: seen.append(("train", cutoff)) or build(eng, cutoff, **kw))
    monkeypatch.setattr(split_module, "read_test_items",
                        lambda eng, window: seen.append(("items", window.test_end)) or read(eng, window))
    learned = stacked_weights(engine, [make_model("popularity"), make_model("history")], test, k=5)
    assert seen and all(day <= test.cutoff for _, day in seen)
    assert sum(learned.daily_menu) == pytest.approx(1) and sum(learned.catalog) == pytest.approx(1)
    assert learned.record()["validation_to"] < test.cutoff.isoformat()
    # on validation the stack does at least as well as each member alone (they are vertices)
    for key, alone in learned.member_scores.items():
        assert learned.scores[key] >= max(alone) - 1e-12
        assert learned.holdout[key]["kept"] in ("blend", "best_member")


def test_the_stack_keeps_a_blend_only_when_it_wins_on_the_held_out_half():
    from kurrant_core.ensembles.stacking import BEST_MEMBER, BLEND, guarded_weights

    def linear(a, b, together):         # member 0 alone a, member 1 alone b, a bonus for mixing them
        return lambda w: a * w[0] + b * w[1] + together * w[0] * w[1]

    # the mix helps on the first half only (it overfits): the stack is the whole window's best member
    halves = {"first": linear(0.50, 0.40, 0.4), "second": linear(0.50, 0.40, 0.0), "all": linear(0.50, 0.45, 0.2)}
    w, check = guarded_weights(halves.get, 2)
    assert check["kept"] == BEST_MEMBER and w.tolist() == [1.0, 0.0]
    assert check["blend_second_half"] < check["best_member_second_half"] == 0.50
    # the mix helps on both halves: the blend searched on the whole window is kept
    halves = {"first": linear(0.50, 0.40, 0.4), "second": linear(0.50, 0.40, 0.4), "all": linear(0.50, 0.40, 0.4)}
    w, check = guarded_weights(halves.get, 2)
    assert check["kept"] == BLEND and 0 < w[1] < 1 and w.sum() == pytest.approx(1)
    assert halves["all"](w) > 0.50


def test_ensemble_runs_hold_the_shared_format_and_publish_like_any_run(engine, tmp_path):
    a = runs.train_and_write(engine, "popularity", k=4, triggered_by="test")
    b = runs.train_and_write(engine, "history", k=4, triggered_by="test")
    ensemble = build_ensemble(engine, [a, b], fusion.BLEND, weights=[1, 3], by=team_person())
    run = runs.get_run(engine, ensemble)
    assert run.is_done and run.params[ENSEMBLE_KEY]["rule"] == fusion.BLEND
    assert [m[C.RUN_ID] for m in run.params[ENSEMBLE_KEY]["members"]] == [a, b]
    assert run.params[POLICY_KEY]["name"] == "default"
    rows = runs.read_recommendations(engine, ensemble)
    assert rows[C.SERVICE_DATE].notna().any() and rows[C.SERVICE_DATE].isna().any()
    runs.validate_recommendations(engine, rows)                     # the format's rules hold
    runs.activate_run(engine, ensemble, by=team_person())
    assert runs.publish_run(engine, ensemble, by=team_person()) == int(rows[C.SERVICE_DATE].notna().sum())
    manifest = runs.export_run(engine, ensemble, tmp_path / "export")
    assert runs.load_export(manifest.parent)[1].shape[0] == len(rows)
    # Compare loads it back: its lists are the stored ones, the why-line names each member's rank
    ranker = load_ensemble(engine, ensemble)
    user = int(rows[C.USER_ID].iloc[0])
    catalog = rows[(rows[C.USER_ID] == user) & rows[C.SERVICE_DATE].isna()]
    why = ranker.explain_in(user, catalog[C.FOOD_ID].head(2))
    assert all(line.startswith("popularity ") and " · history " in line for line in why)


def test_compare_shows_an_ensemble_like_any_run_with_its_members_ranks(engine):
    from kurrant_core.compare import candidates_for_run
    a = runs.train_and_write(engine, "popularity", k=4, triggered_by="test")
    b = runs.train_and_write(engine, "history", k=4, triggered_by="test")
    ensemble = build_ensemble(engine, [a, b], fusion.RRF)
    rows = runs.read_recommendations(engine, ensemble)
    dated = rows[rows[C.SERVICE_DATE].notna()]
    user, day, meal = (dated[c].iloc[0] for c in (C.USER_ID, C.SERVICE_DATE, C.DINING_TYPE))
    scored = candidates_for_run(engine, ensemble, int(user), service_date=day, dining_type=int(meal))
    assert scored.is_live and scored.label == f"ensemble #{ensemble}"
    member_rows = runs.read_recommendations(engine, b, int(user), day, dining_type=int(meal), with_raw_score=True)
    best = int(member_rows.sort_values(C.RAW_SCORE, ascending=False, kind="stable")[C.FOOD_ID].iloc[0])
    why = dict(zip(scored.foods[C.FOOD_ID], scored.foods[C.WHY]))
    assert "history #1" in why[best] and why[best].startswith("popularity #")


def test_a_stacked_ensemble_runs_as_a_job_and_a_viewer_is_refused(engine):
    from kurrant_core import access, jobs
    from kurrant_core.ensembles import make_ensemble
    a = runs.train_and_write(engine, "popularity", k=3, triggered_by="test")
    b = runs.train_and_write(engine, "history", k=3, triggered_by="test")
    before = _n_runs(engine)
    with pytest.raises(access.AccessDenied):
        make_ensemble(engine, [a, b], fusion.RRF, by=access.anonymous())
    with pytest.raises(access.AccessDenied):
        make_ensemble(engine, [a, b], fusion.STACKED, by=access.anonymous(), launch=False)
    assert _n_runs(engine) == before
    request = make_ensemble(engine, [a, b], fusion.STACKED, by=team_person(), activate=True, launch=False)
    assert request.run_id is None and request.job_id is not None
    job = jobs.run_job(engine, request.job_id)
    assert job.status == S.RUN_DONE, job.error
    ensemble = runs.list_runs(engine, "ensemble")
    run = runs.get_run(engine, int(ensemble[C.RUN_ID].iloc[0]))
    assert run.is_active and run.job_id == request.job_id
    stacking = run.params[ENSEMBLE_KEY]["stacking"]
    assert stacking["validation_to"] < run.data_cutoff.isoformat()
    assert run.params[ENSEMBLE_KEY]["weights"] == stacking["daily_menu"]


def test_evaluate_reports_ensembles_like_models_with_both_intervals(engine, backend, capsys):
    import json

    from kurrant_core.ensembles.evaluation import VERSUS_MEMBER
    from kurrant_core.evaluation import leaderboard, names as N
    if backend != "sqlite":
        pytest.skip("the evaluation's storage is covered by the evaluation tests on both backends")
    url = engine.url.render_as_string(hide_password=False)
    assert cli.main(["--url", url, "evaluate", "--models", "popularity,history", "--no-tradeoff",
                     "--policy", "off", "--ensemble", "stacked:all", "--ensemble", "rrf:popularity,history",
                     "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    stacked = {r[C.PROTOCOL]: r for r in rows if r[C.MODEL] == "stacked:all"}
    assert set(stacked) == set(N.PROTOCOLS)
    daily = stacked[N.DAILY_MENU]
    assert daily[N.VERSUS_BASELINE][N.MRR][N.REFERENCE] in ("popularity", "history")
    assert daily[VERSUS_MEMBER][N.MRR][N.REFERENCE] in ("popularity", "history")
    interval = daily[VERSUS_MEMBER][N.MRR]
    assert interval["low"] <= interval["diff"] <= interval["high"]
    assert daily[ENSEMBLE_KEY]["stacking"]["validation_to"] < daily[C.DATA_CUTOFF]
    board = leaderboard(engine, N.DAILY_MENU)
    assert {"stacked:all", "rrf:popularity,history"} <= set(board[C.MODEL])
    assert cli.main(["--url", url, "evaluate", "--models", "popularity", "--ensemble", "vote:all"]) == 2


def test_evaluate_measures_an_ensemble_with_its_own_default_policy(engine, backend, capsys):
    import json

    from kurrant_core.policies import default_policy_name
    if backend != "sqlite":
        pytest.skip("the evaluation's storage is covered by the evaluation tests on both backends")
    url = engine.url.render_as_string(hide_password=False)
    assert cli.main(["--url", url, "evaluate", "--models", "popularity,history", "--no-tradeoff",
                     "--ensemble", "rrf:popularity,history", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    shipped = {r[C.MODEL]: r["policy"] for r in rows if r["policy"] != "off"}
    assert shipped == {"popularity": "varied", "history": "default",            # each model's own default
                       "rrf:popularity,history": default_policy_name(None, "ensemble")}
    run = runs.get_run(engine, next(r["run_id"] for r in rows if r[C.MODEL] == "rrf:popularity,history"))
    assert run.params[POLICY_KEY]["name"] == "default"


def test_the_window_table_is_its_halves_tables_joined(engine, backend):
    from kurrant_core.ensembles.stacking import _halves, _joined, daily_table
    from kurrant_core.evaluation import tuning
    from kurrant_core.models import make_model
    if backend != "sqlite":
        pytest.skip("pure numpy over the fitted models: one backend is enough")
    run = runs.get_run(engine, runs.train_and_write(engine, "popularity", k=3, triggered_by="test"))
    validation = tuning.build_validation(engine, TimeSplit(run.data_cutoff - timedelta(days=10), 7))
    models = [make_model(m).fit(validation.data) for m in ("popularity", "history")]
    parts = _halves(validation.items)
    assert parts["first"] is not parts["second"], "the tiny world's window should span several days"
    whole, chosen = daily_table(models, validation.data, validation.items)
    joined, joined_chosen = _joined(*(daily_table(models, validation.data, parts[p]) for p in ("first", "second")))
    assert len(whole) > 0 and np.array_equal(chosen, joined_chosen)
    assert np.array_equal(whole, joined, equal_nan=True)
