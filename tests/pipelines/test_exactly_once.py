"""Every listed sample comes back exactly once, or the job fails with no manifest.

A runner may lose a bundle's outputs or run a bundle twice; these tests make the stage functions
do that (in the driver for the local executor, through the DoFn for Beam's in-process runner).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from climb.pipelines import graph, local
from climb.pipelines.convert import ConvertConfig, ConvertError, convert
from climb.pipelines.stages import process_batch
from climb.pipelines.summary import Summary
from climb.transforms.phi import DEMO_KEY
from tests.helpers import tree_bytes


def config(raw: Path, out: Path, runner: str) -> ConvertConfig:
    return ConvertConfig(source="dicom", raw_url=str(raw), out_url=str(out), shard_size=40_000, batch_size=2,
                         runner=runner, workers=1)


def drop_batch_one(worker, batch_id, path):
    """process_batch as seen through a runner that lost batch 1's outputs."""
    rows, subjects, summary = process_batch(worker, batch_id, path)
    return ([], [], Summary()) if batch_id == 1 else (rows, subjects, summary)


def run_batch_one_twice(worker, batch_id, path):
    """process_batch as seen through a runner that retried batch 1 and kept the second attempt."""
    if batch_id == 1:
        process_batch(worker, batch_id, path)
    return process_batch(worker, batch_id, path)


@pytest.mark.parametrize("runner", ["direct", "FnApiRunner"])
def test_a_lost_batch_fails_the_job_and_writes_no_manifest(dicom_corpus, tmp_path, monkeypatch, runner):
    monkeypatch.setattr(local, "process_batch", drop_batch_one)
    monkeypatch.setattr(graph, "process_batch", drop_batch_one)
    with pytest.raises(ConvertError, match="exactly-once check failed: the driver listed 9 samples in 5 batches, "
                                           "but results came back for 7 samples in 4 batches"):
        convert(config(dicom_corpus, tmp_path, runner), DEMO_KEY)
    assert not (tmp_path / "dicom" / "manifest.json").exists()


def test_a_retried_batch_writes_what_a_clean_run_writes(dicom_corpus, tmp_path, monkeypatch):
    convert(config(dicom_corpus, tmp_path / "clean", "direct"), DEMO_KEY)
    monkeypatch.setattr(local, "process_batch", run_batch_one_twice)
    convert(config(dicom_corpus, tmp_path / "retried", "direct"), DEMO_KEY)
    assert tree_bytes(tmp_path / "retried") == tree_bytes(tmp_path / "clean")


def test_each_attempt_stages_under_its_own_name(dicom_corpus, tmp_path, monkeypatch):
    staged: list[str] = []

    def record(worker, batch_id, path):
        rows, subjects, summary = process_batch(worker, batch_id, path)
        staged.extend(row[4] for row in rows)
        return rows, subjects, summary

    monkeypatch.setattr(local, "process_batch", record)
    convert(config(dicom_corpus, tmp_path / "a", "direct"), DEMO_KEY)
    convert(config(dicom_corpus, tmp_path / "b", "direct"), DEMO_KEY)
    first, second = staged[: len(staged) // 2], staged[len(staged) // 2:]
    assert first and not set(first) & set(second)
    assert all(name.startswith("_staging/batch-") for name in first)
