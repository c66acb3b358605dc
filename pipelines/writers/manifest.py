"""The manifest (commit point), its statistics and the quarantine log (croissant.json: croissant.py).

Everything here is computed from the pipeline's entries and shard results alone, sorted, and
serialized canonically, so two runs over the same inputs write the same manifest bytes whatever the
runner or worker count. There is deliberately no timestamp in the manifest.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from typing import Any

from climb.pipelines.writers.members import json_bytes
from climb.schemas.manifest import MANIFEST_VERSION, validate_manifest
from climb.schemas.sample import SCHEMA_VERSION
from climb.schemas.tasks import TASKS
from climb.transforms.safe_text import spreadsheet_safe
from climb.version import CODE_VERSION


def _moments(values: list[float]) -> dict[str, float | None]:
    """Mean and population standard deviation. fsum is exact, so the result does not depend on the
    order a runner delivered the entries in (the manifest's bytes must not)."""
    if not values:
        return {"mean": None, "std": None}
    mean = math.fsum(values) / len(values)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
    return {"mean": round(mean, 6), "std": round(std, 6)}


def task_stats(entries: list[dict[str, Any]], task_names: tuple[str, ...]) -> dict[str, Any]:
    """Per-task label counts over written samples (class counts, masked counts, regression moments)."""
    out: dict[str, Any] = {}
    for name in sorted(task_names):
        task = TASKS[name]
        values = [e["labels"].get(name) for e in entries if name in e["labels"]]
        stats: dict[str, Any] = {**task.to_dict(), "labelled_samples": len(values)}
        if task.type == "multilabel":
            stats["counts"] = {c: sum(1 for v in values if v is not None and v[i] == 1) for i, c in enumerate(task.classes)}
            stats["masked"] = {c: sum(1 for v in values if v is None or v[i] is None) for i, c in enumerate(task.classes)}
        elif task.type == "regression":
            known = [float(v) for v in values if v is not None]
            stats["counts"] = {"known": len(known), "masked": len(values) - len(known)}
            stats["summary"] = {**_moments(known), "min": min(known) if known else None, "max": max(known) if known else None}
            by_split: dict[str, list[float]] = defaultdict(list)
            for e in entries:
                if e["labels"].get(name) is not None:
                    by_split[e["split"]].append(float(e["labels"][name]))
            # trainers standardize targets with the train split's moments, never with test labels
            stats["split_summary"] = {split: {"known": len(v), **_moments(v)} for split, v in sorted(by_split.items())}
        else:
            stats["counts"] = {c: sum(1 for v in values if v == i) for i, c in enumerate(task.classes)}
            stats["masked"] = sum(1 for v in values if v is None)
        out[name] = stats
    return out


def source_fingerprint(entries: list[dict[str, Any]]) -> str:
    """sha256 over every discovered sample's raw fingerprint, in sorted order."""
    digest = hashlib.sha256()
    for fp in sorted(str(e.get("source_sha256")) for e in entries):
        digest.update(fp.encode("ascii"))
    return digest.hexdigest()


def build_manifest(
    *,
    source: str,
    config: dict[str, Any],
    task_names: tuple[str, ...],
    entries: list[dict[str, Any]],
    shards: list[dict[str, Any]],
) -> dict[str, Any]:
    """Assemble manifest.json from all entries (every kind) and the written shards."""
    written = [e for e in entries if e["kind"] == "written"]
    quarantined = [e for e in entries if e["kind"] == "quarantined"]
    excluded = [e for e in entries if e["kind"] == "excluded"]
    splits: dict[str, dict[str, Any]] = {}
    subjects: dict[str, set[str]] = defaultdict(set)
    for e in written:
        subjects[e["split"]].add(e["subject"])
    for split in sorted(subjects):
        splits[split] = {"num_samples": sum(1 for e in written if e["split"] == split), "num_subjects": len(subjects[split])}
    reasons: dict[str, int] = defaultdict(int)
    for e in quarantined:
        reasons[f"{e['stage']}:{e['error_type']}"] += 1
    exclusions: dict[str, int] = defaultdict(int)
    for e in excluded:
        exclusions[spreadsheet_safe(e["reason"])] += 1
    volumes = sorted((v for e in written for v in e.get("volumes", ())), key=lambda v: v["path"])
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "schema_version": SCHEMA_VERSION,
        "code_version": CODE_VERSION,
        "source": source,
        "config": config,
        "config_sha256": hashlib.sha256(json_bytes(config)).hexdigest(),
        "source_fingerprint": source_fingerprint(entries),
        "counts": {
            "discovered": len(entries),
            "written": len(written),
            "quarantined": len(quarantined),
            "excluded": len(excluded),
        },
        "splits": splits,
        "shards": sorted(shards, key=lambda s: s["path"]),
        "volumes": volumes,
        "tasks": task_stats(written, task_names),
        "quarantine": {"file": "quarantine.jsonl", "reasons": dict(sorted(reasons.items()))},
        "exclusions": dict(sorted(exclusions.items())),
        "split_conflicts": sum(1 for e in written if e.get("split_moved")),
    }
    problems = validate_manifest(manifest)
    if problems:
        raise RuntimeError("refusing to write an inconsistent manifest: " + "; ".join(problems))
    return manifest


def quarantine_lines(entries: list[dict[str, Any]]) -> bytes:
    """quarantine.jsonl: one line per quarantined sample, sorted, without internal fields.

    Paths and messages echo raw data (file names, sheet cells), so they pass spreadsheet_safe.
    """
    rows = [
        {k: spreadsheet_safe(str(e.get(k))) for k in ("source_path", "stage", "error_type", "message")}
        for e in entries
        if e["kind"] == "quarantined"
    ]
    rows.sort(key=lambda r: (r["source_path"], r["stage"]))
    return b"".join(json_bytes(r) + b"\n" for r in rows)
