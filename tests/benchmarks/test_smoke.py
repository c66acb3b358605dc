"""The benchmark runs end to end on a tiny size: real conversion, a peer format, bounds, report files."""

from __future__ import annotations

import json
import os
from importlib.util import find_spec

import pytest

from benchmarks import run


def test_a_tiny_benchmark_run_reads_every_sample_and_writes_its_report(tmp_path):
    out = tmp_path / "results"
    results = run.main(["--pairs", "24", "--sets", "pairs", "--where", "local", "--readers", "climb", "webdataset",
                        "--workers", "0", "--repeats", "1", "--skip", "conversion", "memory",
                        "--work", str(tmp_path / "work"), "--out", str(out)])
    rows = {row["reader"]: row for row in results["loaders"]}
    assert set(rows) == {"decode-only", "decode-only (climb)", "raw read (1 stream)", "climb", "webdataset"}
    for row in rows.values():
        assert row["errors"] == [] and row["samples_per_s"] > 0
    assert [r["samples"] for r in rows["climb"]["runs"]] == [24]
    assert json.loads((out / "results.json").read_text())["data"]["pairs"]["samples"] == 24
    table = (out / "RESULTS.md").read_text()
    assert "| climb |" in table and "local 1p: climb >= 90% of its decode-only bound" in table
    assert "*decode only, climb's decoder (bound, 1 process)*" in table
    assert (out / "loaders.png").read_bytes().startswith(b"\x89PNG")


def test_climb_is_byte_compiled_before_measuring_as_the_peers_installed_wheels_are():
    cached = [find_spec(name).cached for name in ("climb.storage", "climb.loaders.stream", "climb.pipelines.graph")]
    for path in cached:
        if os.path.exists(path):
            os.remove(path)
    run.byte_compile()
    assert all(os.path.exists(path) for path in cached)


def test_updating_the_readme_without_the_peers_venv_is_refused_with_the_command_that_makes_it(monkeypatch, capsys):
    monkeypatch.setattr(run.peers, "ready", lambda: False)
    with pytest.raises(SystemExit):
        run.parse_args(["--quick", "--update-readme"])
    assert "python -m benchmarks.peers" in capsys.readouterr().err


def test_range_cost_reads_the_object_whole_in_every_pattern_and_counts_the_stores_cpu():
    from benchmarks import range_cost

    assert range_cost.ranges(10, None) == [(0, 10)]
    assert range_cost.ranges(10, 4, 1) == [(0, 1), (1, 5), (5, 9), (9, 10)]
    result = range_cost.main(["--size-mb", "3", "--passes", "1", "--repeats", "1"])
    rows = result["patterns"]
    assert set(rows) == set(range_cost.PATTERNS) and rows["whole object"]["gets"] == 1
    assert rows["1 MiB ranges"]["gets"] == 3 and rows["4 MiB ranges, unaligned"]["gets"] == 2
    assert all(row["mb_per_s"] > 0 and row["server_ms_per_mb"] >= 0 for row in rows.values())


def test_the_s3_note_gives_each_reads_cpu_per_sample_and_the_rate_fully_busy_cores_allow():
    from benchmarks import report

    rows = [{"set": "pairs", "mode": "raw", "where": "s3", "streams": 1, "workers": 0, "reader": "raw read (1 stream)",
             "samples_per_s": 3000.0, "client_ms_per_sample": 0.2, "server_ms_per_sample": 0.3},
            {"set": "pairs", "where": "s3", "workers": 0, "reader": "climb", "samples_per_s": 2000.0,
             "client_ms_per_sample": 0.4, "server_ms_per_sample": 0.4},
            {"set": "pairs", "where": "s3", "workers": 2, "reader": "webdataset", "samples_per_s": 800.0}]
    lines = report.shared_cores_note({"machine": {"cpus": 2}, "loaders": rows})
    assert "| raw read, 1 stream (bound) | 0.20 | 0.30 | 4,000 | 3,000 |" in lines
    assert "| climb, 1p | 0.40 | 0.40 | 2,500 | 2,000 |" in lines
    assert not any("webdataset" in line for line in lines)  # a run made before the CPU was counted
    assert report.shared_cores_note({"machine": {"cpus": 2}, "loaders": rows[2:]}) == []


def test_a_share_just_under_its_target_is_not_rounded_onto_it():
    from benchmarks import report

    assert report.share(0.796, 0.8) == "79.6%" and report.share(0.8, 0.8) == "80.0%"
    assert report.share(0.74, 0.8) == "74%" and report.share(0.88, 0.8) == "88%"
