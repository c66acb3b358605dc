"""Same bytes whatever runs the graph: Beam's in-process runner or Dask with any worker count."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import convert_demo, tree_bytes

pytestmark = pytest.mark.dask


def run(raw: Path, out: Path, source: str = "dicom", **kw) -> dict[str, bytes]:
    convert_demo(source, raw, out, shard_size=40_000, batch_size=2, **kw)
    return tree_bytes(out)


def test_dask_runner_with_two_workers_matches_the_direct_runner(dicom_corpus, tmp_path):
    direct = run(dicom_corpus, tmp_path / "direct")
    dask = run(dicom_corpus, tmp_path / "dask", runner="dask", workers=2)
    assert direct == dask
    assert any(name.endswith("manifest.json") for name in direct)


def test_one_and_three_dask_workers_write_the_same_bytes(nifti_corpus, tmp_path):
    one = run(nifti_corpus, tmp_path / "one", source="nifti", runner="dask", workers=1)
    three = run(nifti_corpus, tmp_path / "three", source="nifti", runner="dask", workers=3)
    assert one == three
    assert any("volumes.zarr" in name for name in one)
