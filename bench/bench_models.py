"""Per model: fit seconds, seconds to write every list, and peak memory, on the demo world.

Each model runs in its own subprocess through the production pipeline
(``results.train_and_write``): catalog lists for every active user plus the next 5 menu days.
Stage times come from the pipeline's progress callback; memory is the growth of the process's
peak RSS over the baseline taken after the training data is built (so it is what the model and
the writing add, not the data every model shares). CPU seconds (all threads) sit next to wall
seconds because on a shared machine wall time also measures the neighbours.

    .venv/bin/python bench/bench_models.py                 # demo world, every registered model
    .venv/bin/python bench/bench_models.py --large         # large world
    .venv/bin/python bench/bench_models.py --models popularity als --url sqlite:///...
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kurrant_core.db import init_db, make_engine  # noqa: E402
from kurrant_core.models import MODEL_NAMES, model_available  # noqa: E402

SEED = 7
K = 10


def world_url(scale: str) -> str:
    """A SQLite file holding the preprocessed ``scale`` world, built once and reused."""
    path = ROOT / "data" / "bench" / f"{scale}_seed{SEED}.sqlite"
    url = f"sqlite:///{path}"
    if not path.exists():
        from kurrant_core.demo import generate_demo_world
        from kurrant_core.preprocess import preprocess
        print(f"building the {scale} world into {path} (once) ...", flush=True)
        engine = make_engine(url)
        init_db(engine)
        generate_demo_world(engine, scale=scale, seed=SEED)
        preprocess(engine)
        engine.dispose()
    return url


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024      # KiB on Linux


def measure(url: str, model: str) -> dict:
    """Run in the child: build data, then time the pipeline's stages for one model."""
    from kurrant_core import results
    from kurrant_core.data import build_training_data
    engine = make_engine(url)
    t0 = time.perf_counter()
    data = build_training_data(engine)
    _ = data.interactions, data.counts, data.sequences, data.exposures   # shared, cached work
    data_s = time.perf_counter() - t0
    baseline = _maxrss_mb()
    marks: list[tuple[str, float, float]] = []

    def mark(stage: str, _fraction: float) -> None:
        marks.append((stage, time.perf_counter(), time.process_time()))

    run_id = results.train_and_write(engine, model, {}, k=K, data=data, triggered_by="bench",
                                     progress=mark)
    wall, cpu = {}, {}
    for stage, at, used in marks:                     # the first time each verb shows
        wall.setdefault(stage.split(" ")[0], at)
        cpu.setdefault(stage.split(" ")[0], used)
    rows = len(results.read_recommendations(engine, run_id))
    return {"model": model, "data_s": data_s, "rows": rows,
            "fit_s": wall["saving"] - wall["fitting"], "fit_cpu": cpu["saving"] - cpu["fitting"],
            "save_s": wall["writing"] - wall["saving"],
            "write_s": wall["finishing"] - wall["writing"],
            "write_cpu": cpu["finishing"] - cpu["writing"],
            "peak_mb": _maxrss_mb(), "delta_mb": _maxrss_mb() - baseline}


def run_child(url: str, model: str, artifacts: str) -> dict:
    env = dict(os.environ, KURRANT_ARTIFACT_DIR=artifacts)
    proc = subprocess.run([sys.executable, __file__, "--child", model, "--url", url],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        return {"model": model, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="the large world instead of demo")
    parser.add_argument("--url", help="an already preprocessed DE database to use instead")
    parser.add_argument("--models", nargs="*", default=[m for m in MODEL_NAMES if model_available(m)])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.url, args.child)))
        return
    url = args.url or world_url("large" if args.large else "demo")
    with tempfile.TemporaryDirectory() as artifacts:
        rows = [run_child(url, m, artifacts) for m in args.models]
    print(f"\n{'model':<12}{'data s':>8}{'fit s':>9}{'fit cpu':>9}{'save s':>8}{'write s':>9}"
          f"{'wr cpu':>8}{'rows':>9}{'rows/s':>9}{'peak MB':>9}{'+MB':>7}")
    for r in rows:
        if "error" in r:
            print(f"{r['model']:<12} failed: {r['error']}")
            continue
        print(f"{r['model']:<12}{r['data_s']:>8.2f}{r['fit_s']:>9.2f}{r['fit_cpu']:>9.2f}"
              f"{r['save_s']:>8.2f}{r['write_s']:>9.2f}{r['write_cpu']:>8.2f}{r['rows']:>9,}"
              f"{r['rows'] / max(r['write_s'], 1e-9):>9,.0f}{r['peak_mb']:>9.0f}{r['delta_mb']:>7.0f}")
    ok = [r for r in rows if "error" not in r]
    if ok:
        fastest = min(ok, key=lambda r: r["fit_s"])
        print(f"\nfit time relative to {fastest['model']}: " + ", ".join(
            f"{r['model']} x{r['fit_s'] / max(fastest['fit_s'], 1e-9):.1f}" for r in ok))


if __name__ == "__main__":
    main()
