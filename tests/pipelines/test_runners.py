"""Same bytes whatever runs the graph: Beam's in-process runner or Dask with any worker count."""

from __future__ import annotations

import subprocess
import sys
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


def test_beams_in_process_runner_writes_what_the_embedded_default_writes(dicom_corpus, tmp_path):
    assert run(dicom_corpus, tmp_path / "fnapi", runner="FnApiRunner") == run(dicom_corpus, tmp_path / "direct")


def test_shards_are_written_by_both_workers_of_a_dask_cluster(dicom_corpus, tmp_path):
    import json
    import shutil

    raw = tmp_path / "raw-big"
    for copy in range(3):
        shutil.copytree(dicom_corpus, raw / f"copy{copy}")
    log = tmp_path / "run-log.json"
    manifest = convert_demo("dicom", raw, tmp_path / "out", shard_size=20_000, batch_size=2, runner="dask", workers=2,
                            run_log=str(log))
    writers = json.loads(log.read_text())["shards_by_writer"]
    assert len(manifest["shards"]) >= 10
    assert len(writers) == 2 and sum(writers.values()) == len(manifest["shards"])


def test_beam_options_pass_through_and_multi_threading_is_refused():
    from climb.errors import UserError
    from climb.pipelines.runners import beam_args

    assert beam_args(["flink_master=host:8081", "direct_num_workers=2"]) == ["--flink_master=host:8081", "--direct_num_workers=2"]
    with pytest.raises(UserError, match="multi_threading drops samples"):
        beam_args(["direct_running_mode=multi_threading"])
    with pytest.raises(UserError, match="KEY=VALUE"):
        beam_args(["novalue"])


def test_the_dask_driver_names_the_bag_shuffle_and_never_imports_dask_dataframe():
    """Bag.groupby asks Dask for its default shuffle; unnamed, that import costs the driver ~1.2 s."""
    code = ("import sys, dask.utils; from climb.pipelines.runners import dask_bag_shuffle\n"
            "with dask_bag_shuffle():\n    method = dask.utils.get_default_shuffle_method()\n"
            "print(method, 'dask.dataframe' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["tasks", "False"]
