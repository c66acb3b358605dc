"""Views: declarative selections over catalogs, counted and pinned before training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml

from climb.cli import main
from climb.loaders.views import load_view, resolve, stale
from climb.pipelines.catalog import build_catalog
from climb.schemas.views import ViewError, compile_expression, parse_view, select


@pytest.fixture(scope="module")
def built(datasets: dict[str, Path]) -> dict[str, Path]:
    for path in datasets.values():
        build_catalog(str(path))
    return datasets


def table(**columns) -> pa.Table:
    return pa.table(columns)


def test_comparisons_treat_missing_values_as_not_selected():
    t = table(**{"meta.age": pa.array([70, None, 40])})
    assert select(t, "meta.age > 60").tolist() == [True, False, False]
    assert select(t, "not meta.age > 60").tolist() == [False, True, True]


def test_in_lists_and_none_checks():
    t = table(**{"meta.view": pa.array(["PA", "LATERAL", None])})
    assert select(t, 'meta.view in ["PA", "AP"]').tolist() == [True, False, False]
    assert select(t, 'meta.view not in ["PA"]').tolist() == [False, True, False]
    assert select(t, "meta.view is None").tolist() == [False, False, True]


def test_list_labels_by_class_name_known_and_positive():
    labels = pa.array([[1, 0, None, 0, 0, 0, 0], [None] * 7, None], type=pa.list_(pa.int8()))
    t = table(**{"label.ecg_harmonized": labels})
    assert select(t, "known(label.ecg_harmonized)").tolist() == [True, False, False]
    assert select(t, "positive(label.ecg_harmonized)").tolist() == [True, False, False]
    assert select(t, 'label.ecg_harmonized["normal"] == 1').tolist() == [True, False, False]


def test_subject_any_selects_every_sample_of_a_matching_subject():
    t = table(dataset=["d"] * 4, subject_id=["a", "a", "b", "b"],
              modalities=pa.array([["image"], ["signal"], ["image"], ["image"]]))
    both = select(t, 'subject_any(has("image")) and subject_any(has("signal"))')
    assert both.tolist() == [True, True, False, False]


@pytest.mark.parametrize("text, fragment", [
    ("__import__('os').system('x')", "call one of"),
    ("__import__('os')", "unknown function"),
    ("meta.age.__class__", "no catalog column"),
    ("[x for x in y]", "not allowed"),
    ("meta.age >", "cannot parse"),
    ('label.cxr_findings["Nope"] == 1', "no class 'Nope'"),
])
def test_unsafe_or_wrong_expressions_are_refused_with_a_reason(text, fragment):
    t = table(**{"meta.age": [1], "label.cxr_findings": pa.array([[0] * 14], type=pa.list_(pa.int8()))})
    with pytest.raises(ViewError, match=fragment):
        compile_expression(text)(t)


@pytest.mark.parametrize("data, fragment", [
    ({}, "non-empty list"),
    ({"datasets": [{"url": "a", "weight": 0}]}, "positive number"),
    ({"datasets": ["a", "a"]}, "listed twice"),
    ({"datasets": ["a"], "holdout_tasks": ["no_such_task"]}, "unknown task"),
    ({"datasets": ["a"], "colour": "red"}, "unknown key"),
])
def test_view_files_are_validated_with_clear_errors(data, fragment):
    with pytest.raises(ViewError, match=fragment):
        parse_view(data)


def write_view(path: Path, datasets: dict[str, Path], **extra) -> Path:
    path.write_text(yaml.safe_dump({
        "name": "test",
        "datasets": [
            {"url": str(datasets["vindr-cxr"]), "where": 'split == "train" and known(label.cxr_findings)'},
            {"url": str(datasets["ptbxl"]) + "/manifest.json", "where": "known(label.ecg_superclass)", "weight": 2},
            {"url": str(datasets["mimic-iv"]), "where": 'subject_any(has("image")) and subject_any(has("signal"))'},
        ],
        **extra,
    }))
    return path


def test_a_view_selects_what_its_filters_say(built, tmp_path):
    view = load_view(str(write_view(tmp_path / "v.yaml", built)))
    chosen = {s.url.rsplit("/", 1)[-1]: s for s in resolve(view)}
    assert set(chosen["vindr-cxr"].table.column("split").to_pylist()) == {"train"}
    ptbxl = chosen["ptbxl"].table.column("label.ecg_superclass").to_pylist()
    assert ptbxl and all(any(v is not None for v in labels) for labels in ptbxl)
    assert chosen["ptbxl"].weight == 2.0
    positions = chosen["vindr-cxr"].positions("train")
    assert sum(len(p) for p in positions.values()) == chosen["vindr-cxr"].table.num_rows
    assert all(np.all(np.diff(p) > 0) for p in positions.values())


def test_holdout_datasets_leave_the_view(built, tmp_path):
    view = load_view(str(write_view(tmp_path / "v.yaml", built, holdout_datasets=["ptbxl"])))
    assert [s.url.rsplit("/", 1)[-1] for s in resolve(view)] == ["vindr-cxr", "mimic-iv"]


def test_climb_view_prints_counts_and_pins_catalog_hashes(built, tmp_path, capsys):
    source = write_view(tmp_path / "v.yaml", built)
    assert main(["view", str(source), "--pin", str(tmp_path / "pinned.yaml")]) == 0
    out = capsys.readouterr().out
    assert "view test:" in out and "ptbxl" in out and "weight 2" in out
    pinned = yaml.safe_load((tmp_path / "pinned.yaml").read_text())
    assert all(len(d["catalog_sha256"]) == 64 for d in pinned["datasets"])
    assert main(["view", str(source), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert sum(c["samples"] for c in counts.values()) > 0


def test_a_pinned_view_goes_stale_when_a_catalog_changes(built, tmp_path, capsys):
    main(["view", str(write_view(tmp_path / "v.yaml", built)), "--pin", str(tmp_path / "pinned.yaml")])
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "pinned.yaml")]) == 0
    catalog = built["ptbxl"] / "catalog.parquet"
    original = catalog.read_bytes()
    try:
        catalog.write_bytes(original + b"\0")
        assert stale(load_view(str(tmp_path / "pinned.yaml")))
        assert main(["verify", str(tmp_path / "pinned.yaml")]) == 1
        assert "STALE" in capsys.readouterr().out
        with pytest.raises(ViewError, match="stale"):
            resolve(load_view(str(tmp_path / "pinned.yaml")))
    finally:
        catalog.write_bytes(original)


def test_a_dataset_without_a_catalog_says_how_to_build_one(datasets, tmp_path):
    view = parse_view({"datasets": [str(tmp_path / "nowhere")]})
    with pytest.raises(ViewError, match="climb catalog"):
        resolve(view)


def test_climb_catalog_builds_and_lists_columns(datasets, capsys):
    assert main(["catalog", str(datasets["ptbxl"]), "--columns"]) == 0
    out = capsys.readouterr().out
    assert "catalog.parquet" in out and "label.ecg_superclass" in out and "shape.signal" in out
