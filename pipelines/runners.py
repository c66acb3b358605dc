"""Which engine runs the conversion graph, and with which Beam pipeline options.

    direct           the embedded default: the graph's stages on a local process pool (pipelines/local.py)
    dask             Beam's Dask runner on a LocalCluster of --workers processes, or on --dask-address
    FnApiRunner      Beam's own in-process runner (constructed explicitly: no download of Prism);
                     with --beam-option direct_num_workers=N --beam-option direct_running_mode=multi_processing
                     it runs N SDK worker processes
    any other name   passed to Beam as --runner=NAME with the --beam-option values (FlinkRunner,
                     SparkRunner, DataflowRunner, PortableRunner, PrismRunner ...)

Options are Beam's own (`KEY=VALUE` becomes `--KEY=VALUE`), so every runner's documentation
applies unchanged. `direct_running_mode=multi_threading` is refused: in Beam 2.77 it silently dropped
samples (DESIGN.md), and although Finalize's exactly-once check would fail such a run, it would fail
it after all the work.
"""

from __future__ import annotations

import logging
from typing import Any

from climb.errors import UserError

LOCAL = "direct"
DASK = "dask"
FNAPI = "FnApiRunner"

BATCHES_PER_DASK_PARTITION = 512
PARTITIONS_PER_DASK_THREAD = 2
DASK_MAX_PARTITIONS = 4096


def beam_args(options: list[str]) -> list[str]:
    """`KEY=VALUE` strings as Beam command-line flags; refuses what is known to lose samples."""
    args = []
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not key:
            raise UserError(f"--beam-option {option!r} must be KEY=VALUE (a Beam pipeline option)")
        if key == "direct_running_mode" and value.strip() == "multi_threading":
            raise UserError("direct_running_mode=multi_threading drops samples in Beam 2.77; use multi_processing or in_memory")
        if key == "runner":
            raise UserError("give the runner with --runner NAME, not as a --beam-option")
        args.append(f"--{key}={value}")
    return args


def dask_partitions(batches: int, threads: int) -> int:
    """Bag partitions of the work list for `batches` batches on a cluster with `threads` threads.

    On Dask, beam.Create puts 128 elements in each bag partition by default, so a smaller conversion
    ran as one task on one worker (and Beam's Reshuffle is no step on Dask). Each partition is one
    task of the Process step: two per worker thread (so a thread that finishes early takes over
    a waiting one; never more than batches), and more only beyond 512 batches (16,384 samples) each.
    The groups after Process are Dask task shuffles whose cost grows with the square of the
    partition count: 20,000 DICOMs on a warm 2-worker cluster took 112 s in 40 partitions of 16
    batches, 84 s in 4 and 77-88 s in 8 (docs/SCALING.md).
    """
    wanted = max(threads * PARTITIONS_PER_DASK_THREAD, -(-batches // BATCHES_PER_DASK_PARTITION))
    return max(1, min(wanted, batches, DASK_MAX_PARTITIONS))


def _dask_threads(address: str) -> int:
    """Worker threads of the running cluster at `address`."""
    from dask.distributed import Client

    with Client(address, set_as_default=False) as client:
        return sum(client.nthreads().values())


def quiet_beam_import(cluster) -> None:
    """Import pipelines/graph.py on each worker of a cluster this process started, before any task:
    it filters Beam's import-time warning about Google Cloud client libraries, which each worker
    would otherwise print beside the progress bar (and imports Beam ahead of the first task)."""
    import importlib

    from dask.distributed import Client

    with Client(cluster, set_as_default=False) as client:
        client.run(importlib.import_module, "climb.pipelines.graph")


def beam_pipeline(runner: str, options: list[str], batches: int, workers: int, dask_address: str | None) -> tuple[Any, Any]:
    """The Beam pipeline for `runner` (and the Dask LocalCluster it started, if any, to close after)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    args = beam_args(options)
    if runner == DASK:
        from apache_beam.runners.dask.dask_runner import DaskRunner

        cluster = None
        address = dask_address
        if address:
            threads = _dask_threads(address)
        else:
            from dask.distributed import LocalCluster

            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.WARNING,
            )
            quiet_beam_import(cluster)
            address, threads = cluster.scheduler_address, workers
        dask_args = [f"--dask_client_address={address}", f"--dask_npartitions={dask_partitions(batches, threads)}"]
        return beam.Pipeline(runner=DaskRunner(), options=PipelineOptions(dask_args + args)), cluster
    if runner == FNAPI:
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(args)), None
    return beam.Pipeline(options=PipelineOptions([f"--runner={runner}", *args])), None


def dask_bag_shuffle():
    """Dask config for the Beam graph's groups: Bag.groupby's task shuffle, named up front.

    Asked for no shuffle method, Bag.groupby looks up Dask's default, which with a distributed
    client imports dask.dataframe to see whether pyarrow allows its p2p shuffle, and then takes
    the task shuffle anyway (p2p is not implemented for bags): 1.2 s of the driver's CPU at the start
    of every run, before the first task (a warm 2-worker cluster, 2,000 DICOMs: ~6 s in all).
    """
    import dask

    return dask.config.set({"dataframe.shuffle.method": "tasks"})


def close_dask(cluster) -> None:
    """Close the runner's client, then the cluster we started (the reverse order hangs or warns)."""
    from dask.distributed import default_client

    try:
        default_client().close()
    except ValueError:
        pass
    if cluster is not None:
        cluster.close()
