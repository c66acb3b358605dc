"""`climb demo`, the README's first command, end to end: S3 server, Beam, verify, train, gallery.

A newcomer sees the demo's own lines and progress bars and nothing else (no traceback, no ERROR or
WARN line from a library, no codec complaint about the deliberately broken video), and the commands
it prints at the end to open what it made work as printed.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from climb.cli import main

pytestmark = pytest.mark.slow

NOISE = re.compile(r"Traceback|ERROR|Error|WARN|Warning|Exception|Unclosed|never retrieved|\[[\w,]+ @ 0x")
PROGRESS_BAR = re.compile(r"^[\w -]+: +\d+%\|")


def _weed_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "weed mini"], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def _lines(text: str) -> list[str]:
    """Printed lines, with each redraw of a progress bar (carriage return) as a line of its own."""
    return [line for line in text.replace("\r", "\n").splitlines() if line.strip()]


def _printed_commands(stdout: str) -> list[list[str]]:
    """The commands under "Open what it made:", comments dropped."""
    section = stdout.split("Open what it made:\n", 1)[1].split("\n\n", 1)[0]
    return [shlex.split(line.split("#", 1)[0]) for line in section.splitlines()]


@pytest.fixture(scope="module")
def s3_demo(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, set[int]]:
    """The demo through S3, run as a newcomer runs it: `climb demo` in a fresh process."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    before = _weed_pids()
    proc = subprocess.run([sys.executable, "-m", "climb", "demo", "--out", str(out)], capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, proc, before


def test_demo_runs_everything_through_s3_and_stops_its_server(s3_demo):
    out, proc, before = s3_demo
    assert "[6/6]" in proc.stdout and "Done in" in proc.stdout
    for name in ("ptbxl", "vindr-cxr", "rspect", "echonet"):
        assert f"s3://climb-data/{name}" in proc.stdout
        assert (out / "preview" / name / "index.html").exists()
    metrics = [json.loads(line) for line in (out / "train" / "metrics.jsonl").read_text().splitlines()]
    assert any(m["split"] == "train" for m in metrics) and any(m["split"] == "val" for m in metrics)
    assert (out / "train" / "checkpoint.pt").exists()
    assert _weed_pids() <= before


def test_the_demo_prints_its_own_lines_and_progress_bars_and_nothing_else(s3_demo):
    _, proc, _ = s3_demo
    assert [line for line in _lines(proc.stdout + proc.stderr) if NOISE.search(line)] == []
    assert [line for line in _lines(proc.stderr) if not PROGRESS_BAR.match(line)] == []


def test_the_local_copies_it_points_to_open_and_verify_without_a_server(s3_demo, capsys):
    out, proc, _ = s3_demo
    commands = _printed_commands(proc.stdout)
    local = [c for c in commands if c[0] == "climb" and c[1] in ("inspect", "verify") and not c[2].startswith("s3://")]
    assert {c[1] for c in local} == {"inspect", "verify"}
    for command in local:
        assert Path(command[2]).is_relative_to(out / "data")
        assert main(command[1:]) == 0
    assert "samples   discovered 20" in capsys.readouterr().out
    for name in ("ptbxl", "vindr-cxr", "rspect", "echonet"):
        assert main(["verify", str(out / "data" / name)]) == 0


def test_the_s3_server_restarted_from_its_folder_serves_the_demos_datasets(s3_demo, capsys, monkeypatch):
    from climb.s3.server import S3Server

    out, proc, _ = s3_demo
    serve, inspect = [c for c in _printed_commands(proc.stdout) if c[:3] in (["climb", "s3", "serve"], ["climb", "inspect", "s3://climb-data/ptbxl"])]
    assert serve[3:] == ["--dir", str(out / "s3")]
    server = S3Server(data_dir=serve[4])  # what `climb s3 serve --dir` runs, in the background here
    endpoint = server.start()
    try:
        for name, value in endpoint.env().items():
            monkeypatch.setenv(name, value)
        assert main(inspect[1:]) == 0
    finally:
        server.stop()
    assert "samples   discovered 20" in capsys.readouterr().out


def test_local_demo_leaves_verifiable_datasets_on_disk_and_prints_no_noise(tmp_path, capfd):
    assert main(["demo", "--local", "--out", str(tmp_path / "demo")]) == 0
    printed = capfd.readouterr()
    assert [line for line in _lines(printed.out + printed.err) if NOISE.search(line)] == []
    data = Path(tmp_path / "demo" / "data")
    for name in ("ptbxl", "vindr-cxr", "rspect", "echonet"):
        assert main(["verify", str(data / name)]) == 0
    capfd.readouterr()
    assert main(["inspect", str(data / "ptbxl"), "--json"]) == 0
    summary = json.loads(capfd.readouterr().out)
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


def test_the_demo_runs_again_in_the_same_folder(s3_demo):
    """Kept last in this module: it rebuilds the folder the tests above read."""
    out, _, before = s3_demo
    proc = subprocess.run([sys.executable, "-m", "climb", "demo", "--out", str(out)], capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Done in" in proc.stdout
    assert _weed_pids() <= before
