"""How long applying a policy to a done run takes (all its lists, no refit), against the 15 s target.

``apply-policy --run ID --policy NAME`` makes a new run from a done run's saved model: the catalog
list of every active user and each menu day's ranking, re-ranked by the policy and written in the
shared format. This times exactly that call (``runs.apply_policy_to_run``) on a copy of the
database, so the database given is never changed; wall and CPU seconds, lists and rows written.

    .venv/bin/python bench/bench_apply_policy.py                  # demo world (built once), a history run
    .venv/bin/python bench/bench_apply_policy.py --url sqlite:///data/kurrant_de.sqlite --run 3
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

TARGET_S = 15.0
SEED = 7


def demo_world(folder: Path) -> str:
    """A preprocessed demo world (built once under ``data/bench``, as ``bench_models.py`` does)."""
    from kurrant_core.db import init_db, make_engine
    from kurrant_core.demo import generate_demo_world
    from kurrant_core.preprocess import preprocess
    path = ROOT / "data" / "bench" / f"demo_seed{SEED}.sqlite"
    if not path.exists():
        print(f"building the demo world into {path} (once) ...", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(f"sqlite:///{path}")
        init_db(engine)
        generate_demo_world(engine, scale="demo", seed=SEED)
        preprocess(engine)
        engine.dispose()
    return f"sqlite:///{path}"


def private_copy(url: str, folder: Path) -> str:
    """A SQLite database is copied into ``folder`` (the original stays as it was); others are used as is."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return url
    copy = folder / "de.sqlite"
    shutil.copyfile(parsed.database, copy)
    return f"sqlite:///{copy}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a preprocessed DE database (default: the demo world)")
    parser.add_argument("--run", type=int, help="the done run to apply the policy to "
                        "(default: train --model first, with the policy off)")
    parser.add_argument("--model", default="history", help="model trained when no --run is given")
    parser.add_argument("--policy", default="default")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_apply_policy_") as tmp:
        folder = Path(tmp)
        os.environ["KURRANT_ARTIFACT_DIR"] = str(folder / "artifacts")   # new runs' folders go here
        from kurrant_core import runs
        from kurrant_core.db import make_engine
        from kurrant_core.policies import get_policy
        engine = make_engine(private_copy(args.url or demo_world(folder), folder))
        source = args.run
        if source is None:
            started = time.perf_counter()
            source = runs.train_and_write(engine, args.model, k=10, triggered_by="bench",
                                          policy=get_policy(engine, "off"))
            print(f"trained {args.model} (run {source}, policy off) in {time.perf_counter() - started:.1f} s")
        policy = get_policy(engine, args.policy)
        wall, cpu = time.perf_counter(), time.process_time()
        new = runs.apply_policy_to_run(engine, source, policy, triggered_by="bench")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows = runs.read_recommendations(engine, new)
        lists = rows.groupby([rows[c].astype(str) for c in runs.LIST_KEY]).ngroups
        print(f"apply-policy --run {source} --policy {policy.name}: run {new}, {lists:,} lists, "
              f"{len(rows):,} rows in {wall:.1f} s wall, {cpu:.1f} s CPU "
              f"(target < {TARGET_S:.0f} s: {'met' if wall < TARGET_S else 'NOT met'})")
        engine.dispose()


if __name__ == "__main__":
    main()
