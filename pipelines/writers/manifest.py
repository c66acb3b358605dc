"""The manifest (commit point), its statistics and the quarantine log (croissant.json: croissant.py).

Everything here is computed from merged summaries (pipelines/summary.py) and shard results alone,
sorted, and serialized canonically, so two runs over the same inputs write the same manifest bytes whatever the
runner or worker count. There is deliberately no timestamp in the manifest.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from climb.pipelines.writers.members import json_bytes
from climb.schemas.manifest import MANIFEST_VERSION, validate_manifest
from climb.schemas.sample import SCHEMA_VERSION
from climb.pipelines.summary import Summary, TaskTally, fingerprint_hex, summarize
from climb.transforms.safe_text import spreadsheet_safe
from climb.version import CODE_VERSION


def task_stats(entries: list[dict[str, Any]], task_names: tuple[str, ...]) -> dict[str, Any]:
    """Per-task label counts over written samples (class counts, masked counts, regression moments)."""
    tallies = {name: TaskTally(name) for name in sorted(task_names)}
    for e in entries:
        for tally in tallies.values():
            tally.add(e["labels"], e["split"])
    return {name: tally.result() for name, tally in tallies.items()}


def tasks_section(totals: Summary, task_names: tuple[str, ...]) -> dict[str, Any]:
    """The manifest's `tasks`: every task of the source, from the merged tallies."""
    return {name: (totals.tasks.get(name) or TaskTally(name)).result() for name in sorted(task_names)}


def build_manifest(
    *,
    source: str,
    config: dict[str, Any],
    task_names: tuple[str, ...],
    entries: list[dict[str, Any]],
    shards: list[dict[str, Any]],
) -> dict[str, Any]:
    """Assemble manifest.json from all entries (every kind) and the written shards."""
    subjects: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        if e["kind"] == "written":
            subjects[e["split"]].add(e["subject"])
    return manifest_from_totals(
        source=source, config=config, task_names=task_names, totals=summarize(entries, task_names),
        shards=shards, subjects={split: len(s) for split, s in subjects.items()},
    )


def manifest_from_totals(
    *,
    source: str,
    config: dict[str, Any],
    task_names: tuple[str, ...],
    totals: Summary,
    shards: list[dict[str, Any]],
    subjects: dict[str, int],
    catalog: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble manifest.json from merged summaries, the written shards and subjects per split.

    Args:
        totals: every discovered sample's outcome, merged (pipelines/summary.py).
        shards: one result per written shard.
        subjects: number of distinct subjects per split among written samples.
        catalog: the committed catalog.parquet's {path, sha256, bytes, version}.
    """
    splits = {
        split: {"num_samples": totals.split_samples[split], "num_subjects": subjects.get(split, 0)}
        for split in sorted(totals.split_samples)
        if totals.split_samples[split]
    }
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "schema_version": SCHEMA_VERSION,
        "code_version": CODE_VERSION,
        "source": source,
        "config": config,
        "config_sha256": hashlib.sha256(json_bytes(config)).hexdigest(),
        "source_fingerprint": fingerprint_hex(totals.source_fingerprint, totals.discovered),
        "counts": {
            "discovered": totals.discovered,
            "written": totals.written,
            "quarantined": totals.quarantined,
            "excluded": totals.excluded,
        },
        "splits": splits,
        "modalities": sorted(totals.modalities),
        "shards": sorted(shards, key=lambda s: s["path"]),
        "volumes": sorted(totals.volumes, key=lambda v: v["path"]),
        "tasks": tasks_section(totals, task_names),
        "quarantine": {"file": "quarantine.jsonl", "reasons": dict(sorted(totals.reasons.items()))},
        "exclusions": dict(sorted(totals.exclusions.items())),
        "split_conflicts": totals.split_conflicts,
    }
    if catalog is not None:
        manifest["catalog"] = catalog
    problems = validate_manifest(manifest)
    if problems:
        raise RuntimeError("refusing to write an inconsistent manifest: " + "; ".join(problems))
    return manifest


QUARANTINE_FIELDS = ("key", "stage", "error_type", "message")


def quarantine_lines(entries: list[dict[str, Any]]) -> bytes:
    """quarantine.jsonl: one line per quarantined sample (key, stage, error_type, message), sorted.

    The file ships with the dataset, so a line names the sample by its pseudonymous key, never by
    raw path (`climb inspect --locate` maps keys back to files for whoever holds the HMAC key);
    messages arrive scrubbed of paths and names (pipelines/process.py) and echo decoder text, so
    they pass spreadsheet_safe.
    """
    rows = [
        {k: spreadsheet_safe(str(e.get(k))) for k in QUARANTINE_FIELDS}
        for e in entries
        if e["kind"] == "quarantined"
    ]
    rows.sort(key=lambda r: (r["key"], r["stage"]))
    return b"".join(json_bytes(r) + b"\n" for r in rows)
