"""``return_freed_memory``: large arrays freed while small blocks after them live on go back to
the operating system (glibc's default keeps them in the heap once its threshold has drifted up)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
from conftest import ROOT

SCRIPT = """
import sys
from pathlib import Path
import numpy as np
from kurrant_core.process_memory import return_freed_memory
if sys.argv[1] == "on":
    assert return_freed_memory()

def rss_mb():
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS"))
    return int(line.split()[1]) // 1024

drift = np.ones(30 << 17)          # 30 MB, mapped on its own and freed: glibc raises its threshold
del drift
arrays, pins = [], []
for _ in range(10):                # 10 x 20 MB, each followed by a small block that stays
    arrays.append(np.ones(20 << 17))
    pins.append(np.ones(1 << 15))
held = rss_mb()
del arrays
print(held, rss_mb())
"""


def held_and_after(mode: str) -> tuple[int, int]:
    """RSS in MB with the ten arrays alive, then after they are freed, in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    held, after = map(int, out.stdout.split())
    return held, after


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc's malloc thresholds, read through /proc")
def test_freed_large_arrays_leave_the_process_only_with_the_setting():
    held, after = held_and_after("off")
    assert held - after < 50                 # glibc's default: the 200 MB stay in the heap
    held, after = held_and_after("on")
    assert held >= 200 and held - after >= 180
