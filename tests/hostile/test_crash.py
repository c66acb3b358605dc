"""Crash consistency: `climb convert` killed with SIGKILL at random points, then run again.

Kill points are drawn per seed: after k staged batches, once k shards exist (during shard
writing), as soon as Finalize has started (quarantine.jsonl or croissant.json exists), or after a
random delay. The seeds' conversions run side by side, each killed at its own point. Whatever the point, a manifest that exists names only complete shards that match it,
and the rerun's output is byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from climb.pipelines.verify import verify
from climb.transforms.phi import DEMO_KEY
from tests.helpers import convert_demo, tree_bytes

SEEDS = range(5)
DICOM_FILES = ("CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm", "SC_rgb_jpeg_gdcm.dcm", "US1_J2KR.dcm")
SHARD_SIZE = 40_000  # a few samples per shard, so shard writing takes a while
BATCH = 2


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    from pydicom.data import get_testdata_file

    root = tmp_path_factory.mktemp("crash") / "raw"
    for copy in range(5):
        for name in DICOM_FILES:
            target = root / f"site{copy}" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(get_testdata_file(name), target)
    return root


def run(raw: Path, out: Path) -> dict:
    return convert_demo("dicom", raw, out, shard_size=SHARD_SIZE, batch_size=BATCH)


@pytest.fixture(scope="module")
def clean(raw, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("clean")
    manifest = run(raw, out)
    assert len(manifest["shards"]) >= 4
    return tree_bytes(out)


def kill_point(seed: int):
    """(description, condition on the dataset folder and elapsed seconds) for one seed."""
    rng = random.Random(seed)
    kind = ("staged", "shards", "finalize", "delay")[seed % 4]
    if kind == "staged":
        k = rng.randint(1, 12)
        return f"after {k} staged batches", lambda d, t: len(list((d / "_staging").glob("*.done"))) >= k
    if kind == "shards":
        k = rng.randint(1, 4)
        return f"once {k} shard files exist", lambda d, t: len(list((d / "shards").glob("*.tar*"))) >= k
    if kind == "finalize":
        return "when Finalize starts", lambda d, t: (d / "quarantine.jsonl").exists() or (d / "croissant.json").exists()
    delay = rng.uniform(1.5, 6.0)
    return f"after {delay:.2f} s", lambda d, t: t >= delay


def start(raw: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "climb", "convert", "dicom", str(raw), str(out), "--shard-size", str(SHARD_SIZE),
           "--batch-size", str(BATCH), "--no-progress"]
    env = {**os.environ, "CLIMB_HMAC_KEY": DEMO_KEY.decode()}
    # its own process group, so the kill takes the decoding pool's forked workers too
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


@pytest.fixture(scope="module")
def killed(raw, clean, tmp_path_factory) -> dict[int, tuple[str, bool, Path]]:
    """seed -> (kill point, whether it was killed, output folder): all seeds run at once, each
    killed when its own condition holds (concurrency only shifts where the kills land)."""
    runs = {}
    for seed in SEEDS:
        what, condition = kill_point(seed)
        out = tmp_path_factory.mktemp(f"killed-{seed}")
        runs[seed] = (what, condition, out, start(raw, out), time.monotonic())
    outcome: dict[int, tuple[str, bool, Path]] = {}
    while len(outcome) < len(runs):
        for seed, (what, condition, out, proc, begun) in runs.items():
            if seed in outcome:
                continue
            if proc.poll() is not None:
                outcome[seed] = (what, False, out)
            elif condition(out / "dicom", time.monotonic() - begun):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                outcome[seed] = (what, True, out)
        time.sleep(0.002)
    return outcome


@pytest.mark.parametrize("seed", SEEDS)
def test_a_conversion_killed_anywhere_leaves_a_sound_state_and_reruns_identically(seed, killed, raw, clean):
    what, was_killed, out = killed[seed]
    dataset = out / "dicom"
    if (dataset / "manifest.json").exists():
        assert verify(str(dataset)) == [], f"killed {what}: the manifest names missing or partial shards"
        assert not (dataset / "_staging").exists(), f"killed {what}: a manifest beside a staging area"
        assert tree_bytes(out) == clean
        return
    assert was_killed, "the conversion ended without a manifest and without being killed"
    run(raw, out)
    assert tree_bytes(out) == clean, f"killed {what}: the rerun differs from an uninterrupted run"
