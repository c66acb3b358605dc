"""A worker whose launcher pinned glibc's trim threshold (Dask's nanny does) allocates like any process again."""

import os
import subprocess
import sys

import pytest

PROBE = """
import resource, sys
from climb.pipelines.allocator import restore_adaptive_thresholds
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
    from climb.pipelines.allocator import restore_adaptive_thresholds

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert restore_adaptive_thresholds() is False
