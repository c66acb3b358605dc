"""Keep glibc from handing back, and faulting in again, the memory a worker frees after each batch.

glibc serves allocations above its mmap threshold (128 KiB at first) with a fresh mmap, and gives
the top of the heap back to the kernel once more than its trim threshold (twice that) is free
there; it raises both when a large mapped block is freed. A worker that frees the same buffers
after every batch, each page touched again, pays a fresh page fault per 4 KiB when either
threshold is too low. Two workers meet that:

- Conversion workers started by Dask's nanny, which sets MALLOC_TRIM_THRESHOLD_=65536
  (distributed's `nanny.pre-spawn-environ`) to hand freed memory back quickly. Setting the
  variable also switches off the adaptive mmap threshold, so every decoded image, float buffer and
  PNG above 128 KiB became an mmap/munmap pair: ~1.5 s more system time per 2,000 DICOMs
  (docs/SCALING.md). They raise the thresholds back (`restore_adaptive_thresholds`).
- DataLoader workers (loaders/transfer.py), which hold a batch's sample buffers (32 x 266 KB for
  image + ECG samples) and free them together once the batch is collated. Below ~9 MB of trim
  threshold the heap's top went back to the kernel after every batch: 90,000 page faults per
  1,000 samples in 2 workers instead of 21,000, and ~20% of the samples/s (`keep_freed_memory`).

Both fix the thresholds where glibc's adaptive rule can at most settle (mmap above 32 MiB, trim
above 64 MiB): the allocations are short-lived and of similar sizes, so what a worker keeps stays
bounded by one batch's peak.
"""

from __future__ import annotations

import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20


def keep_freed_memory() -> bool:
    """Fix glibc's mmap/trim thresholds at MMAP_THRESHOLD/TRIM_THRESHOLD; True if this is glibc."""
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): its own allocator's rules apply
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def restore_adaptive_thresholds() -> bool:
    """Raise glibc's mmap/trim thresholds if MALLOC_TRIM_THRESHOLD_ pinned them; True if it did."""
    if not os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return False
    return keep_freed_memory()
