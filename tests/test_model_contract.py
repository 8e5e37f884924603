"""The recommender contract, run on every registered model: a new model gets the whole suite by
registering itself in ``kurrant_core.models.MODEL_NAMES``."""
from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from kurrant_core import codes, columns as C, schema as S
from kurrant_core.data import TrainingData, build_training_data
from kurrant_core.db import make_engine
from kurrant_core.errors import KurrantError
from kurrant_core.models import MODEL_NAMES, Recommender, base, get_model_class, make_model, model_available

HOLDOUT_DAYS = 14
K = 5
SPEED_PARAMS = {"factors": 8, "iterations": 4, "epochs": 2, "n_epochs": 2, "n_estimators": 30,
                "max_iter": 30, "embedding_dim": 8, "hidden_size": 8, "max_len": 20}
"""Small values for whichever of these hyper-parameters a model has: the suite checks manners,
not quality."""


@pytest.fixture(scope="session")
def contract_engine(tiny_sqlite_url) -> sa.Engine:
    engine = make_engine(tiny_sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def contract_data(contract_engine) -> TrainingData:
    with contract_engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(S.mart_order_item.c[C.SERVICE_DATE]))).scalar()
    return build_training_data(contract_engine, pd.Timestamp(last).date() - pd.Timedelta(days=HOLDOUT_DAYS))


def speed_params(name: str) -> dict:
    names = get_model_class(name)._param_names()
    return {k: v for k, v in SPEED_PARAMS.items() if k in names}


_FITTED: dict[str, Recommender] = {}


@pytest.fixture(params=MODEL_NAMES)
def model_name(request) -> str:
    if not model_available(request.param):
        pytest.skip(f"kurrant_core/models/{request.param}.py does not exist yet")
    return request.param


@pytest.fixture
def model(model_name, contract_data) -> Recommender:
    """The model fitted once per session on the tiny world (tests must not refit it)."""
    if model_name not in _FITTED:
        _FITTED[model_name] = make_model(model_name, **speed_params(model_name)).fit(contract_data)
    return _FITTED[model_name]


def warm_users(data: TrainingData, n: int = 25) -> np.ndarray:
    return data.user_ids[~data.cold][:n]


def forbidden_pairs(data: TrainingData) -> set[tuple[int, int]]:
    """(user id, food id) pairs sharing an allergy tag, from the mart strings themselves."""
    food_tags = {f: set(codes.parse_codes(t)) for f, t in zip(data.foods[C.FOOD_ID], data.foods[C.ALLERGY_TAGS])}
    pairs = set()
    for user_id, tags in zip(data.users[C.USER_ID], data.users[C.ALLERGY_TAGS]):
        mine = set(codes.parse_codes(tags))
        pairs |= {(int(user_id), int(f)) for f, ft in food_tags.items() if mine & ft}
    return pairs


def assert_well_formed(recs: pd.DataFrame, k: int) -> None:
    assert list(recs.columns) == C.RECOMMEND_COLUMNS
    keys = [C.USER_ID, C.SERVICE_DATE, C.DINING_TYPE]
    for _, rows in recs.groupby(C.USER_ID):
        assert rows[C.RANK].tolist() == list(range(1, len(rows) + 1))
        assert len(rows) <= k
        assert rows[C.FOOD_ID].is_unique
        assert rows[C.SCORE].is_monotonic_decreasing
    assert np.isfinite(recs[C.SCORE]).all()
    assert not recs.duplicated(keys + [C.FOOD_ID]).any()


# ------------------------------------------------------------------------------ registry
def test_registry_rejects_unknown_names_and_parameters():
    with pytest.raises(KurrantError, match="popularity"):
        make_model("no-such-model")
    with pytest.raises(KurrantError, match="no parameter"):
        make_model("popularity", bogus=1)
    assert MODEL_NAMES[:3] == ["popularity", "content", "als"]


# ------------------------------------------------------------------------------ scikit-learn manners
def test_init_stores_only_params_and_get_params_round_trips(model_name):
    cls = get_model_class(model_name)
    fresh = cls()
    assert cls.name == model_name
    params = fresh.get_params()
    assert set(vars(fresh)) == set(params)
    assert "random_state" in params
    assert type(fresh)(**params).get_params() == params
    defaults = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
                if p.name != "self"}
    assert all(p.kind == p.KEYWORD_ONLY for p in inspect.signature(cls.__init__).parameters.values()
               if p.name != "self")
    for key, (kind, default) in cls.MAIN_PARAMS.items():
        assert defaults[key] == default and isinstance(default, kind)


def test_fit_returns_self_with_learned_state(model_name, contract_data):
    m = make_model(model_name, **speed_params(model_name))
    assert m.fit(contract_data) is m
    learned = [k for k in vars(m) if k.endswith("_") and k not in ("data_", "fallback_")]
    assert learned and m.data_ is contract_data
    assert m.get_params() == make_model(model_name, **speed_params(model_name)).get_params()


# ------------------------------------------------------------------------------ recommend
def test_catalog_lists_have_the_shared_columns_and_ranks_one_to_k(model, contract_data):
    users = warm_users(contract_data)
    recs = model.recommend(users, k=K)
    assert_well_formed(recs, K)
    assert set(recs[C.USER_ID]) == set(users.tolist())
    assert (recs.groupby(C.USER_ID).size() == K).all()
    assert recs[C.SERVICE_DATE].isna().all() and recs[C.DINING_TYPE].isna().all()
    on_sale = set(contract_data.food_ids[contract_data.catalog].tolist())
    assert set(recs[C.FOOD_ID]) <= on_sale
    assert not recs[C.IS_COLD_START].any()
    group = dict(zip(contract_data.users[C.USER_ID], contract_data.users[C.GROUP_ID]))
    assert (recs[C.GROUP_ID].astype(int) == recs[C.USER_ID].map(group).astype(int)).all()
    makers = dict(zip(contract_data.foods[C.FOOD_ID], contract_data.foods[C.MAKERS_ID]))
    assert (recs[C.MAKERS_ID] == recs[C.FOOD_ID].map(makers)).all()


def test_no_user_is_ever_offered_an_allergen(model, contract_data):
    pairs = forbidden_pairs(contract_data)
    assert pairs, "the tiny world should have users with allergies"
    allergic = sorted({u for u, _ in pairs})
    recs = model.recommend(allergic, k=contract_data.n_foods)
    offered = set(zip(recs[C.USER_ID].astype(int), recs[C.FOOD_ID].astype(int)))
    assert not offered & pairs
    # everything else on sale is still offered (the filter removes allergens, nothing more)
    on_sale = contract_data.food_ids[contract_data.catalog]
    assert len(offered) == sum(1 for u in allergic for f in on_sale if (u, int(f)) not in pairs)


def test_candidates_and_exclusions_are_respected(model, contract_data):
    users = warm_users(contract_data, 10)
    rng = np.random.default_rng(0)
    on_sale = contract_data.food_ids[contract_data.catalog]
    subset = rng.choice(on_sale, size=8, replace=False)
    recs = model.recommend(users, k=K, candidates=subset)
    assert set(recs[C.FOOD_ID]) <= set(subset.tolist())
    full = model.recommend(users, k=K)
    banned = full[C.FOOD_ID].value_counts().index[:2].tolist()
    recs = model.recommend(users, k=K, exclude=banned)
    assert not set(recs[C.FOOD_ID]) & set(banned)
    assert (recs.groupby(C.USER_ID).size() == K).all()
    own = full[full[C.RANK] == 1].set_index(C.USER_ID)[C.FOOD_ID]
    recs = model.recommend(users, k=K, exclude={u: [f] for u, f in own.items()})
    assert not (recs[recs[C.RANK] == 1].set_index(C.USER_ID)[C.FOOD_ID] == own).any()


def test_date_mode_ranks_only_that_days_menu_of_each_users_group(model, contract_data):
    after = contract_data.menus[contract_data.menus[C.SERVICE_DATE] >= pd.Timestamp(contract_data.cutoff)]
    lunch = after[after[C.DINING_TYPE] == codes.LUNCH]
    day = lunch[C.SERVICE_DATE].min().date()
    recs = model.recommend(contract_data.user_ids, k=50, service_date=day, dining_type=codes.LUNCH)
    assert_well_formed(recs, 50)
    assert (recs[C.SERVICE_DATE] == day).all() and (recs[C.DINING_TYPE] == codes.LUNCH).all()
    menu = lunch[lunch[C.SERVICE_DATE] == pd.Timestamp(day)].groupby(C.GROUP_ID)[C.FOOD_ID].apply(set)
    pairs = forbidden_pairs(contract_data)
    groups = dict(zip(contract_data.users[C.USER_ID], contract_data.users[C.GROUP_ID]))
    for user_id in contract_data.user_ids:
        got = set(recs[recs[C.USER_ID] == user_id][C.FOOD_ID])
        allowed = {f for f in menu.get(groups[user_id], set()) if (int(user_id), f) not in pairs}
        assert got == allowed        # k exceeds any menu: the whole safe menu, nothing else
    assert not recs.empty


def test_scoring_in_blocks_gives_the_same_lists(model, contract_data, monkeypatch):
    whole = model.recommend(contract_data.user_ids, k=K)
    monkeypatch.setattr(base, "SCORE_BLOCK_CELLS", 3 * len(contract_data.catalog))   # 3 users a block
    pd.testing.assert_frame_equal(model.recommend(contract_data.user_ids, k=K), whole)


def test_a_day_without_menu_gives_no_rows(model, contract_data):
    recs = model.recommend(warm_users(contract_data), k=K, service_date=pd.Timestamp("1990-01-01").date())
    assert recs.empty and list(recs.columns) == C.RECOMMEND_COLUMNS


def test_cold_start_users_get_the_fallback_list(model, contract_data):
    cold = contract_data.user_ids[contract_data.cold][:10]
    assert len(cold), "the tiny world should have users without orders before the cutoff"
    recs = model.recommend(cold, k=K)
    assert_well_formed(recs, K)
    assert recs[C.IS_COLD_START].all()
    assert set(recs[C.USER_ID]) == set(cold.tolist())
    mixed = model.recommend(np.concatenate([cold[:2], warm_users(contract_data, 2)]), k=K)
    assert mixed.groupby(C.USER_ID)[C.IS_COLD_START].first().sum() == 2
    assert len(model.explain(int(cold[0]), recs[C.FOOD_ID].head(3))) == 3


def test_unknown_user_raises_kurrant_error(model, contract_data):
    unknown = int(contract_data.user_ids.max()) + 1000
    with pytest.raises(KurrantError, match=f"user {unknown} is not in the DE database"):
        model.recommend([unknown], k=K)
    with pytest.raises(KurrantError):
        model.score([unknown])
    with pytest.raises(KurrantError):
        model.explain(unknown, contract_data.food_ids[:2])


def test_score_is_a_finite_users_by_foods_matrix_and_explain_has_one_line_per_food(model, contract_data):
    users = warm_users(contract_data, 7)
    scores = model.score(users)
    assert scores.shape == (len(users), contract_data.n_foods) and np.isfinite(scores).all()
    foods = contract_data.food_ids[:4]
    assert model.score(users, foods).shape == (len(users), 4)   # a choice model may score relative to the set
    lines = model.explain(int(users[0]), foods)
    assert len(lines) == 4 and all(isinstance(x, str) and x for x in lines)


# ------------------------------------------------------------------------------ reproducibility
def test_same_random_state_gives_the_same_lists(model_name, model, contract_data):
    again = make_model(model_name, **speed_params(model_name)).fit(contract_data)
    users = contract_data.user_ids
    pd.testing.assert_frame_equal(again.recommend(users, k=K), model.recommend(users, k=K))


def test_save_and_load_give_the_same_scores(model, contract_data, tmp_path):
    folder = model.save(tmp_path / "artifact")
    for loader in (Recommender.load, type(model).load):
        back = loader(folder)
        assert type(back) is type(model) and back.get_params() == model.get_params()
        np.testing.assert_allclose(back.score(contract_data.user_ids), model.score(contract_data.user_ids),
                                   rtol=1e-6, atol=1e-7)
        day = contract_data.menus[C.SERVICE_DATE].max().date()
        pd.testing.assert_frame_equal(back.recommend(contract_data.user_ids, k=K, service_date=day),
                                      model.recommend(contract_data.user_ids, k=K, service_date=day))
