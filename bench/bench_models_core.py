"""Build time of the training data and fit / scoring time of popularity, content and ALS.

Usage: python bench/bench_models_core.py [DE_URL]  (default: the configured DE database, which
should hold the preprocessed demo world). Prints seconds and users-per-second figures.
"""
from __future__ import annotations

import sys
import time
from datetime import timedelta

import numpy as np

from kurrant_core import codes, columns as C
from kurrant_core.data import build_training_data
from kurrant_core.db import make_engine
from kurrant_core.models import make_model

MODELS = ["popularity", "content", "als"]
DATES = 10


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(url: str | None = None) -> None:
    engine = make_engine(url)
    data, seconds = timed(lambda: build_training_data(engine))
    print(f"training data: {data.n_users} users x {data.n_foods} foods, {len(data.orders)} paid items, "
          f"built in {seconds:.2f} s")
    _, seconds = timed(lambda: data.exposures)
    print(f"exposures: {len(data.exposures)} rows in {seconds:.2f} s")
    days = sorted(d for d in data.menus[C.SERVICE_DATE].unique() if d >= np.datetime64(data.cutoff - timedelta(days=1)))
    days = [d.date() if hasattr(d, "date") else d for d in days][:DATES]
    users = data.user_ids
    for name in MODELS:
        model, fit_s = timed(lambda: make_model(name).fit(data))
        catalog, cat_s = timed(lambda: model.recommend(users, k=20))
        dated, day_s = timed(lambda: [model.recommend(users, k=10, service_date=d, dining_type=codes.LUNCH)
                                      for d in days])
        rows = sum(len(x) for x in dated)
        print(f"{name:11s} fit {fit_s:6.2f} s | catalog lists for {len(users)} users {cat_s:.3f} s "
              f"({len(users) / cat_s:,.0f} users/s) | {len(days)} menu days {day_s:.3f} s "
              f"({day_s / max(len(days), 1):.3f} s/day, {rows} rows)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
