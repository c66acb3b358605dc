"""The conversion as a Beam graph that a distributed runner can split end to end.

    Create(batch refs) -> Reshuffle                           refs: (batch id, work file path)
      -> Process (ParDo, per batch)  --rows------> GroupBySplit -> Plan (shard specs of a split)
                                                              -> SubjectsPerSplit (distinct subjects of the split)
                                     --anchors---> + shard specs -> SpreadShards (by shard path) -> WriteShards
                                     --summary---> PartialTotals (16 keys; Finalize merges the 16)
      Flatten(shard results, totals, subjects) -> GatherResults -> Finalize (exactly-once check, manifest)

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

On Dask a grouped partition runs only on a worker that holds some of its inputs, so when one worker
had planned every split it also wrote every shard (1 run in 3 on a 2-worker cluster). Each Process
bundle therefore adds one tiny anchor element (key ANCHOR, dropped after the group) to SpreadShards:
its inputs then live on every worker that decoded, and Dask places the writes by load. (Beam side
inputs, the TFDS way of sending shard boundaries to the rows, are recomputed from scratch inside
each Dask task, Process included.)

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

ROWS, SUBJECTS, SUMMARY = "rows", "subjects", "summary"
ANCHOR = ""
"""Key of the one-per-batch anchors that join the shard specs in SpreadShards (see the module docstring)."""
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
    """Write one shard from its spec (verified fragments -> tar + .idx); emit its result."""

    def __init__(self, job: Job):
        self.job = job
        self.worker: Worker | None = None

    def setup(self) -> None:
        self.worker = Worker.start(self.job)

    def process(self, spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield write_shard(self.worker, spec)


class SummaryCombine(beam.CombineFn):
    """Merge batch summaries: exact and order-independent, so any partial grouping gives one result."""

    def create_accumulator(self) -> Summary:
        return Summary()

    def add_input(self, acc: Summary, summary: Summary) -> Summary:
        return acc.merge(summary)

    def merge_accumulators(self, accs: Iterable[Summary]) -> Summary:
        return Summary().merge_all(accs)

    def extract_output(self, acc: Summary) -> Summary:
        return acc


class Finalize(beam.DoFn):
    """The single sink: exactly-once check, quarantine.jsonl, croissant.json, manifest.json last."""

    def __init__(self, job: Job, expected: Expected):
        self.job = job
        self.expected = expected

    def process(self, grouped: tuple[int, Iterable[tuple[str, Any]]]) -> Iterator[str]:
        batches, shards, subjects = Summary(), [], {}
        for kind, value in grouped[1]:
            if kind == "shard":
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


def _plan(grouped: tuple[str, Iterable[tuple[list[Row], list[str]]]], shard_size: int) -> Iterator[tuple[str, dict[str, Any]]]:
    for spec in plan_specs([row for rows, _ in grouped[1] for row in rows], shard_size):
        yield spec["path"], spec


def _subjects(grouped: tuple[str, Iterable[tuple[list[Row], list[str]]]]) -> tuple[int, tuple[str, tuple[str, int]]]:
    """Distinct subjects of a split's written samples, counted where the split's batches meet."""
    distinct = {subject for _, subjects in grouped[1] for subject in subjects}
    return 0, (SUBJECTS, (grouped[0], len(distinct)))


def _anchor(tagged: tuple[str, Any]) -> Iterator[tuple[str, None]]:
    """One anchor per Process bundle's summary (see the module docstring)."""
    if tagged[0] == SUMMARY:
        yield ANCHOR, None


def _specs(grouped: tuple[str, Iterable[Any]]) -> Iterable[dict[str, Any]]:
    return () if grouped[0] == ANCHOR else grouped[1]


def _partial_key(tagged: tuple[str, Any]) -> Iterator[tuple[int, Summary]]:
    """Batch summaries spread over PARTIAL_TOTAL_KEYS keys, so no one combiner sees every batch."""
    if tagged[0] == SUMMARY:
        yield tagged[1].key_fingerprint % PARTIAL_TOTAL_KEYS, tagged[1]


def _result(kind: str):
    """A result for Finalize, under the one key GatherResults groups by."""
    return lambda value: (0, (kind, value))


def build(pipeline: beam.Pipeline, job: Job, worklist: WorkList, expected: Expected) -> None:
    """Add the conversion's transforms to `pipeline` (see the module docstring for the shape)."""
    processed = (
        pipeline
        | "WorkList" >> beam.Create(worklist.refs, reshuffle=False)
        | "SpreadBatches" >> beam.Reshuffle()
        | "Process" >> beam.ParDo(ProcessBatch(job))
    )
    by_split = (
        processed
        | "RowsBySplit" >> beam.FlatMap(_select, ROWS)
        | "GroupBySplit" >> beam.GroupByKey()
    )
    specs = by_split | "Plan" >> beam.FlatMap(_plan, shard_size=job.shard_size)
    subjects = by_split | "SubjectsPerSplit" >> beam.Map(_subjects)
    anchors = processed | "Anchors" >> beam.FlatMap(_anchor)
    shards = (
        (specs, anchors)
        | "SpecsAndAnchors" >> beam.Flatten()
        | "SpreadShards" >> beam.GroupByKey()
        | "ShardSpecs" >> beam.FlatMap(_specs)
        | "WriteShards" >> beam.ParDo(WriteShard(job))
        | "TagShards" >> beam.Map(_result("shard"))
    )
    totals = (
        processed
        | "Summaries" >> beam.FlatMap(_partial_key)
        | "PartialTotals" >> beam.CombinePerKey(SummaryCombine())
        | "TagTotals" >> beam.Map(lambda kv: (0, (SUMMARY, kv[1])))
    )
    (
        (shards, totals, subjects)
        | "Results" >> beam.Flatten()
        | "GatherResults" >> beam.GroupByKey()
        | "Finalize" >> beam.ParDo(Finalize(job, expected))
    )
