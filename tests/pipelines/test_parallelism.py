"""Every core or worker gets work, and how the work is spread never changes the bytes written."""

from __future__ import annotations

import pytest

from climb.pipelines.runners import dask_partitions
from tests.helpers import convert_demo, tree_bytes


def test_decode_pool_writes_what_one_process_writes_with_more_batches_than_in_flight(dicom_corpus, tmp_path):
    # batch_size=1: 9 batches, more than the pool keeps queued, so batches are staged both while
    # later ones are submitted and at the end of the bundle
    one = convert_demo("dicom", dicom_corpus, tmp_path / "one", workers=1, shard_size=40_000, batch_size=1)
    two = convert_demo("dicom", dicom_corpus, tmp_path / "two", workers=2, shard_size=40_000, batch_size=1)
    assert one["counts"] == two["counts"]
    assert one["counts"]["written"] + one["counts"]["quarantined"] == one["counts"]["discovered"] == 9
    assert tree_bytes(tmp_path / "one") == tree_bytes(tmp_path / "two")


def test_small_conversion_gets_two_partitions_per_worker_thread():
    assert dask_partitions(batches=16, threads=2) == 4
    assert dask_partitions(batches=16, threads=8) == 16


def test_never_more_partitions_than_batches():
    assert dask_partitions(batches=3, threads=8) == 3
    assert dask_partitions(batches=1, threads=2) == 1


def test_partitions_stay_few_until_they_would_hold_more_than_512_batches():
    assert dask_partitions(batches=625, threads=2) == 4  # 20,000 samples
    assert dask_partitions(batches=51_200, threads=2) == 100
    assert dask_partitions(batches=56_250, threads=64) == 128  # 1.8 M samples on 64 threads


@pytest.mark.dask
def test_conversion_on_a_running_cluster_decodes_on_every_worker(dicom_corpus, tmp_path):
    import logging

    from dask.distributed import Client, LocalCluster, get_task_stream

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.WARNING) as cluster:
        with Client(cluster.scheduler_address, set_as_default=False) as monitor, get_task_stream(client=monitor) as stream:
            manifest = convert_demo("dicom", dicom_corpus, tmp_path / "out", runner="dask",
                                    dask_address=cluster.scheduler_address, batch_size=2)
        workers = {task["worker"] for task in stream.data if "apply_dofn_to_bundle" in str(task["key"])}
    assert manifest["counts"]["discovered"] == 9
    assert len(workers) == 2
