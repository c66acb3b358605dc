"""Workers keep the memory they free after each sample or batch instead of faulting it in again.

A worker whose launcher pinned glibc's trim threshold (Dask's nanny does) allocates like any process
again; a loader worker keeps a batch's freed sample buffers in its heap, and its fetch threads
allocate from the arenas it has instead of one each."""

import os
import subprocess
import sys

import pytest

PROBE = """
import resource, sys
from climb.allocator import restore_adaptive_thresholds
if sys.argv[1] == "restore":
    assert restore_adaptive_thresholds()
bytearray(4 << 20)  # warm the heap once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    bytearray(1 << 20)  # a decoded-image-sized buffer, zero-filled, then freed
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc allocator")


def page_faults(mode: str) -> int:
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env=env, check=True, capture_output=True, text=True)
    return int(out.stdout)


def test_pinned_thresholds_map_every_large_buffer_afresh_and_restoring_them_reuses_the_heap():
    pinned, restored = page_faults("as-started"), page_faults("restore")
    assert pinned > 100 * 200  # ~256 fresh pages per 1 MiB buffer
    assert restored < pinned / 20


def test_nothing_changes_when_the_variable_is_not_set(monkeypatch):
    from climb.allocator import restore_adaptive_thresholds

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert restore_adaptive_thresholds() is False


BATCHES = """
import resource, sys
import numpy as np
from climb.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    batch = [np.ones(266_000, dtype=np.uint8) for _ in range(32)]  # one batch's sample buffers, freed together
    del batch
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def batch_faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", BATCHES, mode], env=env, check=True, capture_output=True, text=True)
    return int(out.stdout)


def test_a_loader_worker_reuses_a_freed_batch_of_sample_buffers():
    as_started, kept = batch_faults("as-started"), batch_faults("keep")
    assert as_started > 15 * 32 * 60  # the heap's top handed back after every batch: ~65 pages per buffer again
    assert kept < as_started / 10


THREADS = """
import ctypes, sys, threading
from climb.allocator import one_arena
if sys.argv[1] == "one":
    assert one_arena()
together = threading.Barrier(4)
def fetch():
    held = [bytearray(100_000) for _ in range(8)]  # a fetch thread's sample buffers, held at once
    together.wait()
threads = [threading.Thread(target=fetch) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(None).malloc_stats()  # one "Arena N:" paragraph per arena, on stderr
"""


def arenas_after_fetch_threads(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", THREADS, mode], env=env, check=True, capture_output=True, text=True)
    return sum(line.startswith("Arena ") for line in out.stderr.splitlines())


def test_fetch_threads_started_after_one_arena_make_no_arena_of_their_own():
    assert arenas_after_fetch_threads("as-started") == 5  # the main arena and one per thread
    assert arenas_after_fetch_threads("one") == 1
