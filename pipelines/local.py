"""The embedded default executor: the conversion's stages on a pool of local processes.

It runs exactly the graph of pipelines/graph.py (process batches -> plan each split -> write shards
-> finalize) with the same stage functions (pipelines/stages.py), but schedules them itself on a
`ProcessPoolExecutor` of `workers` forked processes instead of through a Beam runner. On one
machine that is what pays: Beam's in-process runner costs about 2 s of start-up and runs one
element at a time, and its multi-process mode copies every element between processes (measured
side by side in docs/SCALING.md). Nothing here is a Beam runner and nothing in the Beam graph
depends on it.

Workers die with the driver: each sets PR_SET_PDEATHSIG (Linux) so the kernel kills it when the
process that forked it dies, even by SIGKILL, and elsewhere a watchdog thread exits the worker once
its parent is gone. With `workers` = 1 everything runs in the driver process.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

from climb.pipelines.finalize import Expected, finalize
from climb.pipelines.job import Job, Worker
from climb.pipelines.stages import Row, plan_specs, process_batch, write_shard
from climb.pipelines.summary import Summary
from climb.pipelines.worklist import WorkList
from climb.storage import keep_inherited_filesystems

PR_SET_PDEATHSIG = 1

_WORKER: Worker | None = None
"""This pool process's Worker, set once by the pool initializer (per-process state, never shared)."""


def die_with_parent(parent: int) -> None:
    """Make this process exit when `parent` dies: prctl(PR_SET_PDEATHSIG) or a polling watchdog."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    except (OSError, AttributeError):
        def watch() -> None:
            while os.getppid() == parent:
                threading.Event().wait(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="climb-parent-watchdog", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _start(job: Job, parent: int) -> None:
    global _WORKER
    die_with_parent(parent)
    keep_inherited_filesystems()
    _WORKER = Worker.start(job)


def _process(ref: tuple[int, str]) -> tuple[list[Row], list[tuple[str, str]], Summary]:
    return process_batch(_WORKER, *ref)


def _write(spec: dict[str, Any]) -> dict[str, Any]:
    return write_shard(_WORKER, spec)


def run_local(job: Job, worklist: WorkList, expected: Expected, workers: int) -> dict[str, Any]:
    """Run the conversion's stages on `workers` local processes; return the manifest."""
    if workers <= 1:
        worker = Worker.start(job)
        return _run(job, worklist, expected,
                    lambda refs: (process_batch(worker, *ref) for ref in refs),
                    lambda specs: (write_shard(worker, spec) for spec in specs))
    import multiprocessing

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_start, initargs=(job, os.getpid()))
    try:
        return _run(job, worklist, expected, lambda refs: pool.map(_process, refs), lambda specs: pool.map(_write, specs))
    finally:
        pool.shutdown(cancel_futures=True)


def _run(job: Job, worklist: WorkList, expected: Expected, process: Callable, write: Callable) -> dict[str, Any]:
    """process every batch -> plan every split -> write every shard -> finalize (the graph's stages, in order).

    `process` and `write` map a stage function over an iterable (inline, or on the pool).
    """
    rows: dict[str, list[Row]] = {}
    subjects: dict[str, set[str]] = {}
    batches = Summary()
    for batch_rows, batch_subjects, summary in process(worklist.refs):
        for row in batch_rows:
            rows.setdefault(row[0], []).append(row)
        for split, subject in batch_subjects:
            subjects.setdefault(split, set()).add(subject)
        batches.merge(summary)
    specs = [spec for split in sorted(rows) for spec in plan_specs(rows.pop(split), job.shard_size)]
    shards = list(write(specs))
    return finalize(job, expected, batches, shards, {split: len(s) for split, s in subjects.items()})
