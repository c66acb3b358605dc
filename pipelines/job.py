"""What every stage of one conversion needs, as a picklable value that holds no secret.

The graph (and the local executor) carries a `Job`; a worker turns it into the per-sample
`process.Context` once, after resolving the key reference (pipelines/keys.py) on its own side.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any

from climb.allocator import restore_adaptive_thresholds
from climb.pipelines.keys import KeyRef, resolve
from climb.pipelines.process import Context


@dataclass(frozen=True)
class Job:
    """One conversion's settings: where to read and write, how to key and split, what to record."""

    source: str
    dataset_url: str
    options: dict[str, Any]
    storage_options: dict[str, Any]
    key_ref: KeyRef
    salt: str
    fractions: dict[str, float]
    task_names: tuple[str, ...]
    shard_size: int
    config: dict[str, Any] = field(default_factory=dict)
    run_log: str | None = None


@dataclass(frozen=True)
class Worker:
    """A stage's view of the job on one worker: the job, the resolved key and the per-sample context."""

    job: Job
    key: bytes
    ctx: Context
    info: Any

    @classmethod
    def start(cls, job: Job) -> "Worker":
        """Resolve the key reference and look up the source; once per worker (DoFn.setup, pool init)."""
        from climb.pipelines.sources import get_source

        restore_adaptive_thresholds()

        key = resolve(job.key_ref)
        ctx = Context(
            source=job.source, dataset_url=job.dataset_url, options=job.options,
            storage_options=job.storage_options, hmac_key=key, salt=job.salt, fractions=job.fractions,
        )
        return cls(job=job, key=key, ctx=ctx, info=get_source(job.source, job.options))


def worker_id() -> str:
    """host:pid of this process, for the run log (which worker decoded or wrote what)."""
    return f"{socket.gethostname()}:{os.getpid()}"
