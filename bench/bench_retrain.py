"""A full retrain on the demo world, through the retrain button's code path, timed, with the
worker's peak memory.

Runs ``python -m kurrant_core retrain --models all --wait`` (the job the button submits, run in
the foreground: the same ``jobs.run_job``) on a private copy of the demo world, then prints the
wall time, the job's time, each model's run time and the worker's peak RSS (its ``maxrss``).

    .venv/bin/python bench/bench_retrain.py                     # every model, with evaluation
    .venv/bin/python bench/bench_retrain.py --no-evaluate       # lists only
    .venv/bin/python bench/bench_retrain.py --models popularity,content
    .venv/bin/python bench/bench_retrain.py --large             # the large world (built once)
    .venv/bin/python bench/bench_retrain.py --large --evaluation-process off   # twins in the job itself
    .venv/bin/python bench/bench_retrain.py --url mysql+pymysql://root@127.0.0.1/kurrant_large

``--url`` runs on that (preprocessed) DE database itself, MariaDB included: the job's runs stay in its
run history (``triggered_by`` cli), activated as the button's job would.

On the large world the twins that judge each run are fitted in a second process beside the job
(``jobs.evaluation_process``; ``--evaluation-process`` sets ``KURRANT_EVALUATION_PROCESS``): the
peak memory is then printed for both processes, and CPU seconds are every process's together.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_models import world_url  # noqa: E402  (builds the bench world once)

from kurrant_core import columns as C, jobs, runs  # noqa: E402
from kurrant_core.db import make_engine  # noqa: E402


def private_copy(url: str, folder: Path) -> str:
    """A consistent copy of a SQLite world (the backup API, safe while others read it)."""
    source = sqlite3.connect(url.removeprefix("sqlite:///"))
    target_path = folder / "demo.sqlite"
    target = sqlite3.connect(target_path)
    source.backup(target)
    source.close()
    target.close()
    return f"sqlite:///{target_path}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="all")
    parser.add_argument("--no-evaluate", action="store_true")
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--large", action="store_true", help="the large world (same as --scale large)")
    parser.add_argument("--evaluation-process", choices=["auto", "on", "off"], default=None,
                        help="where the evaluation twins are fitted (default: the setting, else auto)")
    parser.add_argument("--log", type=Path, default=None, help="write the worker's whole log here")
    parser.add_argument("--url", help="retrain on this DE database itself instead of a copy of a bench world")
    args = parser.parse_args()
    if args.large:
        args.scale = "large"
    with tempfile.TemporaryDirectory(prefix="bench_retrain_") as tmp:
        folder = Path(tmp)
        url = args.url or private_copy(world_url(args.scale), folder)
        command = [sys.executable, "-m", "kurrant_core", "--url", url, "retrain", "--models",
                   args.models, "--wait"]
        command += ["--no-evaluate"] if args.no_evaluate else []
        env = dict(os.environ, KURRANT_ARTIFACT_DIR=str(folder / "artifacts"))
        if args.evaluation_process:
            env["KURRANT_EVALUATION_PROCESS"] = args.evaluation_process
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_mib, cpu_s = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
        if args.log is not None:
            args.log.write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:])
            return done.returncode
        engine = make_engine(url)
        job = jobs.latest_job(engine)
        history = runs.run_history(engine)
        mine = history[history[C.JOB_ID] == job.job_id].iloc[::-1]
        engine.dispose()
    world = make_engine(args.url).url.render_as_string() if args.url else f"the {args.scale} world"
    print(f"retrain of {', '.join(job.spec.models)} on {world} "
          f"({'no evaluation' if args.no_evaluate else 'with evaluation'}): job {job.status_label}")
    print(f"  wall time from the command  {wall:8.1f} s")
    print(f"  job time (worker started)   {job.elapsed_s():8.1f} s")
    for row in mine.itertuples(index=False):
        print(f"    {getattr(row, C.MODEL):<11} {getattr(row, C.DURATION_S):8.1f} s")
    print(f"  CPU, every process          {cpu_s:8.1f} s   (x {cpu_s / wall:.2f} of the wall time)")
    print(f"  largest process peak (maxrss) {peak_mib:6.0f} MiB")
    beside = re.findall(r"evaluation process peak memory (\d+) MiB", done.stdout + done.stderr)
    if beside:
        print(f"  evaluation process peak     {float(beside[-1]):8.0f} MiB (beside the job)")
    else:
        print("  evaluation                  in the job's own process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
