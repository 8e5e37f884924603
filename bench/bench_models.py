"""Per model: training-data, fit and write seconds, peak memory and daily-menu MRR, on the demo world.

Each model runs in its own subprocess through the production pipeline
(``runs.train_and_write``): catalog lists for every active user plus the next 5 menu days. The
data is the default split's (train before the last 14 days of orders), so the fitted model's
daily-menu MRR on those 14 days is measured in the same run (the pipeline's ``evaluate`` hook,
its time left out of fit and write): speed and quality read together.
Stage times come from the pipeline's progress callback. Memory: ``data MB``, the process's peak
RSS once the training data is built with every shared part (interactions, counts, sequences,
exposures), interpreter and libraries included (about 200 MB); ``peak MB``, its peak overall;
and ``+MB``, the peak during fit + write above the RSS held once the training data is built (the
kernel's peak mark is reset at that point), i.e. what the model and the writing add on top of
the data every model shares. CPU seconds (all threads) sit next to wall
seconds because on a shared machine wall time also measures the neighbours.

    .venv/bin/python bench/bench_models.py                 # demo world, every registered model
    .venv/bin/python bench/bench_models.py --large         # large world
    .venv/bin/python bench/bench_models.py --large --json  # one JSON document (the table on stderr)
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
from kurrant_core.process_memory import return_freed_memory  # noqa: E402

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


def _status_mb(field: str) -> float | None:
    """``VmRSS``/``VmHWM`` of this process in MB from /proc (None off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux: write 5 to clear_refs), so the next peak is ours."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str, model: str) -> dict:
    """Run in the child: build data, then time the pipeline's stages for one model."""
    from kurrant_core import runs
    from kurrant_core.data import build_training_data
    from kurrant_core.evaluation import names as N
    from kurrant_core.evaluation.protocols import daily_menu_accuracy, rank_daily_menus
    from kurrant_core.evaluation.split import default_split, read_test_items
    engine = make_engine(url)
    split = default_split(engine)
    t0 = time.perf_counter()
    data = build_training_data(engine, split.cutoff)
    _ = data.interactions, data.counts, data.sequences, data.exposures   # shared, cached work
    data_s = time.perf_counter() - t0
    test_items = read_test_items(engine, split)
    data_peak = _peak_mb()
    baseline = (_status_mb("VmRSS") or data_peak) if _reset_peak() else data_peak
    marks: list[tuple[str, float, float]] = []

    def mark(stage: str, _fraction: float) -> None:
        marks.append((stage, time.perf_counter(), time.process_time()))

    quality: dict[str, float] = {}

    def evaluate(fitted, fitted_on) -> dict:
        ranked = rank_daily_menus(fitted, fitted_on, test_items)
        quality["mrr"] = float(daily_menu_accuracy(ranked)[N.MRR])
        return {}

    run_id = runs.train_and_write(engine, model, {}, k=K, data=data, triggered_by="bench",
                                  progress=mark, evaluate=evaluate)
    wall, cpu = {}, {}
    for stage, at, used in marks:                     # the first time each verb shows
        wall.setdefault(stage.split(" ")[0], at)
        cpu.setdefault(stage.split(" ")[0], used)
    rows = len(runs.read_recommendations(engine, run_id))
    fitted = wall.get("evaluating", wall["saving"])
    fitted_cpu = cpu.get("evaluating", cpu["saving"])
    return {"model": model, "data_s": data_s, "rows": rows, "daily_menu_mrr": quality.get("mrr"),
            "fit_s": fitted - wall["fitting"], "fit_cpu": fitted_cpu - cpu["fitting"],
            "save_s": wall["writing"] - wall["saving"],
            "write_s": wall["finishing"] - wall["writing"],
            "write_cpu": cpu["finishing"] - cpu["writing"],
            "data_peak_mb": data_peak, "peak_mb": max(_peak_mb(), data_peak),
            "delta_mb": _peak_mb() - baseline}


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
    parser.add_argument("--json", action="store_true", help="print one JSON document (the table goes to stderr)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return_freed_memory()                 # as the CLI and the retrain worker do
        print(json.dumps(measure(args.url, args.child)))
        return
    url = args.url or world_url("large" if args.large else "demo")
    out = sys.stderr if args.json else sys.stdout
    print(f"\n{'model':<12}{'data s':>8}{'fit s':>9}{'fit cpu':>9}{'save s':>8}{'write s':>9}"
          f"{'wr cpu':>8}{'rows':>10}{'rows/s':>9}{'data MB':>9}{'peak MB':>9}{'+MB':>7}{'MRR':>8}",
          flush=True, file=out)
    rows = []
    with tempfile.TemporaryDirectory() as artifacts:
        for model in args.models:                 # one line per model as soon as it is measured
            rows.append(r := run_child(url, model, artifacts))
            if "error" in r:
                print(f"{r['model']:<12} failed: {r['error']}", flush=True, file=out)
                continue
            print(f"{r['model']:<12}{r['data_s']:>8.2f}{r['fit_s']:>9.2f}{r['fit_cpu']:>9.2f}"
                  f"{r['save_s']:>8.2f}{r['write_s']:>9.2f}{r['write_cpu']:>8.2f}{r['rows']:>10,}"
                  f"{r['rows'] / max(r['write_s'], 1e-9):>9,.0f}{r['data_peak_mb']:>9.0f}{r['peak_mb']:>9.0f}"
                  f"{r['delta_mb']:>7.0f}{r['daily_menu_mrr'] or float('nan'):>8.4f}", flush=True, file=out)
    ok = [r for r in rows if "error" not in r]
    if ok:
        fastest = min(ok, key=lambda r: r["fit_s"])
        print(f"\nfit time relative to {fastest['model']}: " + ", ".join(
            f"{r['model']} x{r['fit_s'] / max(fastest['fit_s'], 1e-9):.1f}" for r in ok), file=out)
    if args.json:
        print(json.dumps({"world": url, "models": rows}, indent=1))


if __name__ == "__main__":
    main()
