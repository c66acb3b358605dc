"""The embedded default executor: its workers never outlive the driver."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import psutil

from climb.transforms.phi import DEMO_KEY


def test_a_sigkilled_driver_leaves_no_worker_behind(dicom_corpus, tmp_path):
    raw = tmp_path / "raw-big"
    for copy in range(6):
        shutil.copytree(dicom_corpus, raw / f"copy{copy}")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "climb", "convert", "dicom", str(raw), str(out), "--batch-size", "1", "--workers", "2",
           "--no-progress"]
    env = {**os.environ, "CLIMB_HMAC_KEY": DEMO_KEY.decode()}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not list((out / "dicom" / "_staging").glob("*.done")):
        time.sleep(0.01)
    workers = driver.children(recursive=True)
    assert proc.poll() is None and len(workers) == 2, "the conversion must be decoding on its two workers when killed"
    proc.send_signal(signal.SIGKILL)  # the driver only: no process group kill
    proc.wait(timeout=30)
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers outlived the killed driver: {[p.pid for p in alive]}"
    assert not (out / "dicom" / "manifest.json").exists()
