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

glibc also gives each new thread an arena of its own (up to 8 per core), and memory freed into one
arena serves only the threads attached to it. A DataLoader worker reading from an object store
fetches sample buffers on a few threads and frees them on the iterating one, so each fetch thread's
arena held its own high-water mark. With `one_arena` the worker's threads share the arenas it
already has: from the local S3 server, 2 workers, 2 interleaved rounds of 3 runs, a worker's peak
RSS went from 301-319 to 288-291 MB in stored order and from 305-308 to 285-289 MB shuffled, with
samples/s unchanged (1,552-1,690 against 1,703-1,782 and 1,285-1,387 against 1,363-1,378).
"""

from __future__ import annotations

import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20


def _mallopt(*settings: tuple[int, int]) -> bool:
    """glibc's mallopt for each (parameter, value); True if this is glibc and it took them all."""
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): its own allocator's rules apply
        return False
    return all([bool(mallopt(param, value)) for param, value in settings])


def keep_freed_memory() -> bool:
    """Fix glibc's mmap/trim thresholds at MMAP_THRESHOLD/TRIM_THRESHOLD; True if this is glibc."""
    return _mallopt((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def one_arena() -> bool:
    """Threads started from now on allocate from the arenas this process has, making no new one."""
    return _mallopt((M_ARENA_MAX, 1))


def restore_adaptive_thresholds() -> bool:
    """Raise glibc's mmap/trim thresholds if MALLOC_TRIM_THRESHOLD_ pinned them; True if it did."""
    if not os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return False
    return keep_freed_memory()
