"""The last stage: check that every discovered sample came back exactly once, then commit.

Finalize receives only small values: the merged Summary of every batch, one result per written
shard and the number of subjects per split. Before writing anything it compares what came back
with what the driver listed (sample count, batch count and an order-independent fingerprint of
the key set): a runner that lost or repeated a batch fails the job here with one clear line and no
manifest. Then it writes quarantine.jsonl, samples.json, croissant.json and README.md
(pipelines/writers/documents.py), removes the staging area and the work list, and writes
manifest.json, which pins them, last (the commit point).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from climb.pipelines.catalog import commit_catalog
from climb.pipelines.job import Job
from climb.pipelines.stages import STAGING, pipe_atomic
from climb.pipelines.summary import Summary
from climb.pipelines.worklist import WORK
from climb.pipelines.writers.documents import documents, pin_documents, write_samples_index
from climb.pipelines.writers.manifest import manifest_from_totals, quarantine_lines
from climb.pipelines.writers.members import json_bytes
from climb.storage import filesystem

SHARD_FIELDS = ("path", "split", "sha256", "bytes", "num_samples", "index", "index_sha256")


class LostWorkError(RuntimeError):
    """Results do not account for every sample the driver listed; the job must not commit."""


@dataclass(frozen=True)
class Expected:
    """What the driver listed: Finalize's yardstick for exactly-once delivery."""

    items: int
    batches: int
    key_fingerprint: int
    discovery: Summary


def check_exactly_once(expected: Expected, batches: Summary) -> None:
    """Raise LostWorkError unless the batch results account for every listed sample exactly once."""
    same_keys = batches.key_fingerprint == expected.key_fingerprint
    if batches.items == expected.items and batches.batches == expected.batches and same_keys and batches.discovered == batches.items:
        return
    raise LostWorkError(
        f"exactly-once check failed: the driver listed {expected.items} samples in {expected.batches} batches, but "
        f"results came back for {batches.items} samples in {batches.batches} batches with {batches.discovered} outcomes"
        f" (key sets {'match' if same_keys else 'differ'}); the runner lost or repeated work. "
        "No manifest was written; run the conversion again"
    )


def _quarantine_entries(fs, root: str, files: list[str]) -> list[dict[str, Any]]:
    # other processes wrote these files: a listing cached by this filesystem object (s3fs checks
    # its directory cache before a whole-object read) must not hide them
    fs.invalidate_cache(f"{root}/{STAGING}")
    entries = []
    for path in sorted(files):
        for line in fs.cat_file(f"{root}/{path}").splitlines():
            entries.append(json.loads(line))
    return entries


def finalize(job: Job, expected: Expected, batches: Summary, shards: list[dict[str, Any]], subjects: dict[str, int]) -> dict[str, Any]:
    """Check exactly-once delivery, write the side files, drop staging and work list, write the manifest last."""
    check_exactly_once(expected, batches)
    totals = Summary().merge(batches).merge(expected.discovery)
    fs, root = filesystem(job.dataset_url, job.storage_options)
    fs.invalidate_cache(f"{root}/{STAGING}")  # parts written by other processes
    catalog = commit_catalog(fs, root, [s["catalog_part"] for s in sorted(shards, key=lambda s: s["path"])])
    manifest = manifest_from_totals(
        source=job.source, config=job.config, task_names=job.task_names, totals=totals,
        shards=[{k: s[k] for k in SHARD_FIELDS} for s in shards], subjects=subjects, catalog=catalog,
    )
    samples_pin = write_samples_index(fs, root, shards)  # the shards' staged parts, one at a time
    docs = documents(manifest, quarantine_lines(_quarantine_entries(fs, root, totals.quarantine_files)), samples_pin)
    for name, data in docs.items():
        pipe_atomic(fs, f"{root}/{name}", data)
    manifest = pin_documents(manifest, docs, [samples_pin])
    if job.run_log:
        _write_run_log(job, totals, shards)
    # staging goes before the commit point: a run killed in between leaves no manifest (and is
    # redone), never a finished manifest beside leftovers that would differ from a clean run
    for name in (STAGING, WORK):
        if fs.exists(f"{root}/{name}"):
            fs.rm(f"{root}/{name}", recursive=True)
    pipe_atomic(fs, f"{root}/manifest.json", json_bytes(manifest))
    return manifest


def _write_run_log(job: Job, totals: Summary, shards: list[dict[str, Any]]) -> None:
    """Where the work ran (host:pid per batch and per shard): for operators, never part of the dataset."""
    fs, path = filesystem(job.run_log, job.storage_options)
    log = {
        "dataset": job.dataset_url,
        "batches_by_worker": dict(sorted(totals.workers.items())),
        "shards_by_writer": dict(sorted(Counter(s["writer"] for s in shards).items())),
        "shard_writers": {s["path"]: s["writer"] for s in sorted(shards, key=lambda s: s["path"])},
    }
    fs.pipe_file(path, json_bytes(log))
