"""`climb inspect` summarises counts, splits, labels, quarantine reasons and shard sizes."""

from __future__ import annotations

import json

from climb.cli import main
from tests.helpers import convert_demo


def test_inspect_json_reports_counts_splits_quarantine_and_shards(broken_corpus, tmp_path, capsys):
    convert_demo("dicom", broken_corpus, tmp_path)
    assert main(["inspect", str(tmp_path / "dicom"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"] == {"discovered": 7, "written": 2, "quarantined": 5, "excluded": 0}
    assert sum(s["num_samples"] for s in summary["splits"].values()) == 2
    assert sum(r["count"] for r in summary["quarantine"]) == 5
    assert any("no pixel data" in r["message"] and r["examples"] == ["no_pixels.dcm"] for r in summary["quarantine"])
    assert summary["shards"]["count"] >= 1 and summary["shards"]["total_bytes"] > 0


def test_inspect_table_is_readable(dicom_corpus, tmp_path, capsys):
    convert_demo("dicom", dicom_corpus, tmp_path)
    assert main(["inspect", str(tmp_path / "dicom")]) == 0
    out = capsys.readouterr().out
    assert "discovered 9  =  written 9" in out and "split" in out and "shards" in out
