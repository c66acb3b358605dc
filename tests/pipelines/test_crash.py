"""A conversion killed mid-write leaves no manifest, and a rerun writes the uninterrupted bytes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from climb.transforms.phi import DEMO_KEY
from tests.helpers import convert_demo, tree_bytes


def test_killed_conversion_leaves_no_manifest_and_rerun_is_identical(dicom_corpus, tmp_path):
    for copy in range(4):
        shutil.copytree(dicom_corpus, dicom_corpus.parent / "raw-big" / f"copy{copy}")
    raw = dicom_corpus.parent / "raw-big"
    out = tmp_path / "killed"
    env = {**os.environ, "CLIMB_HMAC_KEY": DEMO_KEY.decode()}
    cmd = [sys.executable, "-m", "climb", "convert", "dicom", str(raw), str(out), "--batch-size", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = out / "dicom" / "_staging"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and len(list(staging.glob("*.done"))) < 3:
        time.sleep(0.01)
    assert proc.poll() is None, "the conversion finished before it could be killed; the corpus is too small"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "dicom" / "manifest.json").exists()

    convert_demo("dicom", raw, out)
    convert_demo("dicom", raw, tmp_path / "clean")
    assert tree_bytes(out) == tree_bytes(tmp_path / "clean")


def test_a_rerun_clears_the_documents_a_killed_finalize_was_still_writing(dicom_corpus, tmp_path):
    """Finalize writes each document under a temporary name beside it and renames it; a kill in
    between leaves that half-written file and no manifest (seen in CI: `quarantine.jsonl.tmp-...`)."""
    out = tmp_path / "killed"
    dataset = out / "dicom"
    dataset.mkdir(parents=True)
    for name in ("quarantine.jsonl", "manifest.json"):
        (dataset / f"{name}.tmp-{'0' * 32}").write_bytes(b'{"half": ')

    convert_demo("dicom", dicom_corpus, out)
    convert_demo("dicom", dicom_corpus, tmp_path / "clean")
    assert tree_bytes(out) == tree_bytes(tmp_path / "clean")
