"""Large freed arrays go back to the operating system at once, so a process's peak is its data.

glibc's malloc serves a large block with its own ``mmap`` (returned to the system when freed)
only until frees of such blocks raise that threshold, which they do up to 32 MB; from then on
the arrays of a training-data build under that size (30 MB order columns, the exposures' step
temporaries) come from the heap, which keeps what was freed for the next allocation. On the large world that left the
process about 100 MB above its live data after the build and raised the build's peak with
exposures by 130 MB. Fixing the thresholds (the same remedy as Dask's workers'
``MALLOC_TRIM_THRESHOLD_``) stops the drift; blocks under ``LARGE_BLOCK_BYTES`` are still
reused from the heap. That size matters: at 4 MB the large world's NCF fit took 104 s instead
of 60 s (its batch tensors were mapped, faulted in and unmapped at every step); at 16 MB it
takes its usual time and the data's peak stays 120 MB lower.
"""
from __future__ import annotations

import ctypes
import ctypes.util

LARGE_BLOCK_BYTES = 16 << 20
"""Blocks from this size on are mapped on their own (a 2 M-row int64 column and up)."""
TRIM_BYTES = 32 << 20
"""Free memory at the top of the heap beyond this goes back to the system."""
_M_TRIM_THRESHOLD = -1        # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3


def return_freed_memory(block_bytes: int = LARGE_BLOCK_BYTES, trim_bytes: int = TRIM_BYTES) -> bool:
    """Set this process's malloc thresholds (see the module docstring); False where the C
    library has no ``mallopt`` (not glibc): nothing changes there."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, block_bytes)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_bytes))
