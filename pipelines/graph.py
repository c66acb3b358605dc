"""The conversion as a Beam graph that a distributed runner can split end to end.

    Create(batch refs) -> Reshuffle                           refs: (batch id, work file path)
      -> Process (ParDo, per batch)  --rows------> GroupBySplit -> Plan: shard specs + distinct subjects of the split
                                     --summary---> Summaries (16 keys)      |
      SpreadShards: group by key = shard path | "total/k" | "subjects/split" <-+
        -> WriteShards (a shard per path key; merged summaries and subject counts pass through)
        -> GatherResults (one key) -> Finalize (exactly-once check, manifest)

Elements are small: batch references, rows of written samples (split, order, size, staging
reference; each batch's rows travel as one element per split, keyed by the split, with the batch's
distinct subjects of that split, so the runner moves a few elements per batch instead of one per
sample), shard specs, shard results and mergeable summaries; no work list, key or payload rides in
the graph. The subjects per split are counted where a split's batches meet for Plan, so no group of
their own is needed. Process runs wherever the runner puts each reference (the Reshuffle stops fusion with
Create). Rows are grouped per split only to sort and cut them (Plan); the shard specs are then
grouped by shard path, as many keys as shards, so shards are written in parallel by whichever
workers hold their keys (a Reshuffle would do on Dataflow, but Beam's Dask runner translates
Reshuffle into nothing).

The batch summaries and the subject counts ride the same group under keys of their own (16 partial
totals, one count per split) instead of two groups more: on Dask every group is a task shuffle
whose tasks grow with the square of its input partitions, and the three branches flattened in
front of GatherResults made 16 partitions, 256 shuffle-split tasks for a handful of values (2,000
DICOMs on 2 workers: 420 shuffle tasks in all, now 184; docs/SCALING.md). The summaries also do what a grouped partition on
Dask needs: it runs only on a worker that holds some of its inputs, so when one worker had planned
every split it also wrote every shard (1 run in 3 on a 2-worker cluster); every Process bundle's
summaries put inputs of SpreadShards on every worker that decoded, and Dask places the writes by
load. (Beam side inputs, the TFDS way of sending shard boundaries to the rows, are recomputed from
scratch inside each Dask task, Process included.)

The only single-key group (GatherResults) comes after the writes and holds a handful of small
values. Nothing relies on one process: no module state, no pools, no outputs from finish_bundle.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Iterator


class _QuietBeamImport(logging.Filter):
    """Beam warns at import that Google Cloud client libraries are absent; climb does not use them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


class _StorageFailureReported(logging.Filter):
    """Beam logs a failed bundle's traceback before re-raising it; a store failure is reported
    once, as one line, by the command line (and its traceback with --debug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from climb.storage import is_storage_failure

        return not (record.exc_info and record.exc_info[1] is not None
                    and is_storage_failure(record.exc_info[1], missing_is_content=False))


logging.getLogger().addFilter(_QuietBeamImport())
logging.getLogger("apache_beam.runners.common").addFilter(_StorageFailureReported())

import apache_beam as beam  # noqa: E402 - after the filter, so the import stays quiet

from climb.pipelines.finalize import Expected, finalize  # noqa: E402
from climb.pipelines.job import Job, Worker  # noqa: E402
from climb.pipelines.stages import Row, plan_specs, process_batch, write_shard  # noqa: E402
from climb.pipelines.summary import Summary  # noqa: E402
from climb.pipelines.worklist import WorkList  # noqa: E402

ROWS, SUBJECTS, SUMMARY, SHARD = "rows", "subjects", "summary", "shard"
TOTAL_KEY, SUBJECTS_KEY = "total/", "subjects/"
"""Key prefixes of the partial totals and subject counts in SpreadShards; shard keys are paths
under shards/ (stages.shard_path), so the three never meet."""
PARTIAL_TOTAL_KEYS = 16


class ProcessBatch(beam.DoFn):
    """Decode and encode one batch (a work-file reference); emit (kind, value): rows, subject pairs, its summary."""

    def __init__(self, job: Job):
        self.job = job
        self.worker: Worker | None = None

    def setup(self) -> None:
        self.worker = Worker.start(self.job)

    def process(self, ref: tuple[int, str]) -> Iterator[tuple[str, Any]]:
        rows, subjects, summary = process_batch(self.worker, *ref)
        by_split: dict[str, tuple[list[Row], list[str]]] = {}
        for row in rows:
            by_split.setdefault(row[0], ([], []))[0].append(row)
        for split, subject in subjects:
            by_split[split][1].append(subject)
        for split, (split_rows, split_subjects) in sorted(by_split.items()):
            yield ROWS, (split, (split_rows, split_subjects))
        yield SUMMARY, summary


class WriteShard(beam.DoFn):
    """Write the shard of a shard-path key (verified fragments -> tar + .idx) and emit its result;
    merge the summaries of a partial-total key; pass a split's subject count on."""

    def __init__(self, job: Job):
        self.job = job
        self.worker: Worker | None = None

    def setup(self) -> None:
        self.worker = Worker.start(self.job)

    def process(self, grouped: tuple[str, Iterable[Any]]) -> Iterator[tuple[int, tuple[str, Any]]]:
        key, values = grouped
        if key.startswith(TOTAL_KEY):
            yield 0, (SUMMARY, Summary().merge_all(values))
        elif key.startswith(SUBJECTS_KEY):
            for count in values:
                yield 0, (SUBJECTS, (key[len(SUBJECTS_KEY):], count))
        else:
            for spec in values:
                yield 0, (SHARD, write_shard(self.worker, spec))


class Finalize(beam.DoFn):
    """The single sink: exactly-once check, quarantine.jsonl, croissant.json, manifest.json last."""

    def __init__(self, job: Job, expected: Expected):
        self.job = job
        self.expected = expected

    def process(self, grouped: tuple[int, Iterable[tuple[str, Any]]]) -> Iterator[str]:
        batches, shards, subjects = Summary(), [], {}
        for kind, value in grouped[1]:
            if kind == SHARD:
                shards.append(value)
            elif kind == SUBJECTS:
                subjects[value[0]] = value[1]
            else:
                batches.merge(value)
        finalize(self.job, self.expected, batches, shards, subjects)
        yield "manifest.json"


def _select(tagged: tuple[str, Any], kind: str) -> Iterator[Any]:
    """The values of one kind among Process's tagged outputs.

    Process emits (kind, value) pairs on its one output instead of Beam's tagged outputs: Beam
    2.77's Dask runner delivered every tagged output to every consumer.
    """
    if tagged[0] == kind:
        yield tagged[1]


def _plan(grouped: tuple[str, Iterable[tuple[list[Row], list[str]]]], shard_size: int) -> Iterator[tuple[str, Any]]:
    """A split's shard specs (keyed by shard path) and its distinct subjects among the written
    samples, counted where the split's batches meet."""
    batches = list(grouped[1])
    for spec in plan_specs([row for rows, _ in batches for row in rows], shard_size):
        yield spec["path"], spec
    yield SUBJECTS_KEY + grouped[0], len({subject for _, subjects in batches for subject in subjects})


def _partial_key(tagged: tuple[str, Any]) -> Iterator[tuple[str, Summary]]:
    """Batch summaries spread over PARTIAL_TOTAL_KEYS keys, so no one worker merges every batch."""
    if tagged[0] == SUMMARY:
        yield f"{TOTAL_KEY}{tagged[1].key_fingerprint % PARTIAL_TOTAL_KEYS}", tagged[1]


def build(pipeline: beam.Pipeline, job: Job, worklist: WorkList, expected: Expected) -> None:
    """Add the conversion's transforms to `pipeline` (see the module docstring for the shape)."""
    processed = (
        pipeline
        | "WorkList" >> beam.Create(worklist.refs, reshuffle=False)
        | "SpreadBatches" >> beam.Reshuffle()
        | "Process" >> beam.ParDo(ProcessBatch(job))
    )
    planned = (
        processed
        | "RowsBySplit" >> beam.FlatMap(_select, ROWS)
        | "GroupBySplit" >> beam.GroupByKey()
        | "Plan" >> beam.FlatMap(_plan, shard_size=job.shard_size)
    )
    summaries = processed | "Summaries" >> beam.FlatMap(_partial_key)
    (
        (planned, summaries)
        | "SpecsAndSummaries" >> beam.Flatten()
        | "SpreadShards" >> beam.GroupByKey()
        | "WriteShards" >> beam.ParDo(WriteShard(job))
        | "GatherResults" >> beam.GroupByKey()
        | "Finalize" >> beam.ParDo(Finalize(job, expected))
    )
