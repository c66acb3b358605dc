"""`climb demo`, the README's first command, end to end: S3 server, Beam, verify, train, gallery."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from climb.cli import main

pytestmark = pytest.mark.slow


def _weed_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "weed mini"], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def test_demo_runs_everything_through_s3_and_stops_its_server(tmp_path, capsys):
    before = _weed_pids()
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "[6/6]" in out and "Done in" in out
    for name in ("ptbxl", "vindr-cxr", "rspect", "echonet"):
        assert f"s3://climb-data/{name}" in out
        assert (tmp_path / "demo" / "preview" / name / "index.html").exists()
    metrics = [json.loads(line) for line in (tmp_path / "demo" / "train" / "metrics.jsonl").read_text().splitlines()]
    assert any(m["split"] == "train" for m in metrics) and any(m["split"] == "val" for m in metrics)
    assert (tmp_path / "demo" / "train" / "checkpoint.pt").exists()
    assert _weed_pids() <= before


def test_local_demo_leaves_verifiable_datasets_on_disk(tmp_path, capsys):
    assert main(["demo", "--local", "--out", str(tmp_path / "demo")]) == 0
    capsys.readouterr()
    data = Path(tmp_path / "demo" / "data")
    for name in ("ptbxl", "vindr-cxr", "rspect", "echonet"):
        assert main(["verify", str(data / name)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(data / "ptbxl"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    c = summary["counts"]
    assert c["discovered"] == c["written"] + c["quarantined"] + c["excluded"] and c["quarantined"] > 0


def test_keep_server_leaves_a_live_server_and_says_how_to_stop_it(tmp_path, capsys):
    import os
    import signal

    from climb.demo import _storage

    with _storage(tmp_path, local=False, keep_server=True) as (endpoint, url):
        endpoint.create_bucket("kept")
    out = capsys.readouterr().out
    pid = int(out.split("(pid ")[1].split(")")[0])
    try:
        os.kill(pid, 0)  # still running after the demo's context ended
        assert f"kill {pid}" in out and "AWS_ENDPOINT_URL" in out
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
