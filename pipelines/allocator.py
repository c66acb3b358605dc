"""Give a conversion worker glibc's usual allocation thresholds back when its launcher pinned them.

Dask's nanny starts every worker with MALLOC_TRIM_THRESHOLD_=65536 (distributed's
`nanny.pre-spawn-environ`), to hand freed memory back to the OS quickly. Setting that variable also
switches off glibc's adaptive mmap threshold, so every allocation above 128 KiB (each decoded image,
float buffer and PNG) becomes an mmap/munmap pair with fresh page faults: the same conversion
spent ~1.5 s more system time per 2,000 DICOMs in such a process (docs/SCALING.md). A worker that
finds the variable set raises the thresholds to what glibc's adaptive rule settles on for this
workload (mmap above 32 MiB, trim above 64 MiB): a conversion's allocations are short-lived and
of similar sizes, so memory the worker keeps stays bounded by one sample's peak.
"""

from __future__ import annotations

import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20


def restore_adaptive_thresholds() -> bool:
    """Raise glibc's mmap/trim thresholds if MALLOC_TRIM_THRESHOLD_ pinned them; True if it did."""
    if not os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing was pinned there either
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
