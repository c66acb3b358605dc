"""`climb inspect` summarises counts, splits, labels, quarantine reasons and shard sizes; with
`--locate RAW_URL` and the HMAC key it resolves pseudonymous keys back to raw files."""

from __future__ import annotations

import json
from pathlib import Path

from climb.cli import main
from climb.pipelines.records import locate, prepare
from climb.schemas.sample import Record
from climb.transforms.phi import DEMO_KEY, KEY_ENV
from tests.helpers import convert_demo, records


def test_inspect_json_reports_counts_splits_quarantine_and_shards(broken_corpus, tmp_path, capsys):
    convert_demo("dicom", broken_corpus, tmp_path)
    assert main(["inspect", str(tmp_path / "dicom"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"] == {"discovered": 7, "written": 2, "quarantined": 5, "excluded": 0}
    assert sum(s["num_samples"] for s in summary["splits"].values()) == 2
    assert sum(r["count"] for r in summary["quarantine"]) == 5
    assert any("no pixel data" in r["message"] and len(r["examples"]) == 1 for r in summary["quarantine"])
    assert summary["shards"]["count"] >= 1 and summary["shards"]["total_bytes"] > 0


def test_inspect_table_is_readable(dicom_corpus, tmp_path, capsys):
    convert_demo("dicom", dicom_corpus, tmp_path)
    assert main(["inspect", str(tmp_path / "dicom")]) == 0
    out = capsys.readouterr().out
    assert "discovered 9  =  written 9" in out and "split" in out and "shards" in out


def quarantined_keys(dataset) -> list[str]:
    return sorted(json.loads(line)["key"] for line in (dataset / "quarantine.jsonl").read_text().splitlines())


def test_locate_resolves_every_quarantined_key_to_its_raw_file(broken_corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(KEY_ENV, DEMO_KEY.decode())
    convert_demo("dicom", broken_corpus, tmp_path)
    assert main(["inspect", str(tmp_path / "dicom"), "--locate", str(broken_corpus)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert sorted(key for key, _, _ in rows) == quarantined_keys(tmp_path / "dicom")
    assert sorted(Path(path).name for _, _, path in rows) == ["dangling.dcm", "no_pixels.dcm", "not_dicom.dcm", "truncated.dcm", "zero.dcm"]
    assert all(reason.startswith("read:") for _, reason, _ in rows)


def test_locate_resolves_given_keys_and_says_which_it_cannot_find(broken_corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(KEY_ENV, DEMO_KEY.decode())
    convert_demo("dicom", broken_corpus, tmp_path)
    written = records(tmp_path / "dicom")[0]["__key__"]
    argv = ["inspect", str(tmp_path / "dicom"), "--locate", str(broken_corpus), "--json", "--key", written, "--key", "0" * 24]
    assert main(argv) == 1
    found, missing = json.loads(capsys.readouterr().out)
    assert found["key"] == written and Path(found["raw_path"]).name in ("good_ct.dcm", "good_mr.dcm") and "stage" not in found
    assert missing == {"key": "0" * 24, "raw_path": None}


def test_locate_refuses_a_key_the_dataset_was_not_converted_with(broken_corpus, tmp_path, capsys, monkeypatch):
    convert_demo("dicom", broken_corpus, tmp_path)
    monkeypatch.setenv(KEY_ENV, "another-key-0123456789abcdef")
    assert main(["inspect", str(tmp_path / "dicom"), "--locate", str(broken_corpus)]) == 2
    err = capsys.readouterr().err
    assert "not the one" in err and len(err.strip().splitlines()) == 1


def test_key_without_locate_is_a_usage_error(broken_corpus, tmp_path, capsys):
    convert_demo("dicom", broken_corpus, tmp_path)
    assert main(["inspect", str(tmp_path / "dicom"), "--key", "abc"]) == 2
    assert "--key needs --locate" in capsys.readouterr().err


def test_a_discover_stage_reject_resolves_to_its_own_file_not_to_the_converted_one():
    first = Record(source="dicom", sample_id="a", subject_id="s", paths=("/raw/DOE^JANE_MRN1/a.dcm",))
    duplicate = Record(source="dicom", sample_id="a", subject_id="s", paths=("/raw/DOE^JANE_MRN1/copy/a.dcm",))
    items, rejects = prepare([duplicate, first], key=DEMO_KEY, salt="x", raw_url="/raw", fractions={"train": 1.0})
    index = locate([first, duplicate], key=DEMO_KEY, raw_url="/raw")
    (reject,) = rejects
    assert reject["error_type"] == "DuplicateKey" and "MRN1" not in json.dumps(reject)
    assert index[items[0].key] == "/raw/DOE^JANE_MRN1/a.dcm"
    assert index[reject["key"]] == "/raw/DOE^JANE_MRN1/copy/a.dcm"
