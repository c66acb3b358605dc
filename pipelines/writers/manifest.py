"""The manifest (commit point), its statistics, the quarantine log and the Croissant description.

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


def croissant(manifest: dict[str, Any]) -> dict[str, Any]:
    """A Croissant 1.0 (JSON-LD) description: the shards as a FileSet and the record fields."""
    source = manifest["source"]
    files = [
        {
            "@type": "cr:FileObject",
            "@id": shard["path"],
            "name": shard["path"],
            "contentUrl": shard["path"],
            "encodingFormat": "application/x-tar",
            "sha256": shard["sha256"],
            "contentSize": f"{shard['bytes']} B",
        }
        for shard in manifest["shards"]
    ]
    fields = [
        {
            "@type": "cr:Field",
            "@id": f"samples/{name}",
            "name": name,
            "description": desc,
            "dataType": dtype,
            "source": {"fileObject": {"@id": files[0]["@id"]}, "extract": {"column": name}} if files else None,
        }
        for name, dtype, desc in (
            ("__key__", "sc:Text", "pseudonymized sample key"),
            ("json", "sc:Text", f"metadata (climb schema {SCHEMA_VERSION}): labels, label_mask, split, subject_id"),
        )
    ]
    for f in fields:
        if f["source"] is None:
            del f["source"]
    return {
        "@context": {
            "@language": "en",
            "@vocab": "https://schema.org/",
            "cr": "http://mlcommons.org/croissant/",
            "sc": "https://schema.org/",
            "dct": "http://purl.org/dc/terms/",
            "rai": "http://mlcommons.org/croissant/RAI/",
            "samplingRate": "cr:samplingRate",
            "equivalentProperty": "cr:equivalentProperty",
            "conformsTo": "dct:conformsTo",
            "citeAs": "cr:citeAs",
            "column": "cr:column",
            "data": {"@id": "cr:data", "@type": "@json"},
            "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
            "examples": {"@id": "cr:examples", "@type": "@json"},
            "extract": "cr:extract",
            "field": "cr:field",
            "fileObject": "cr:fileObject",
            "fileProperty": "cr:fileProperty",
            "fileSet": "cr:fileSet",
            "format": "cr:format",
            "includes": "cr:includes",
            "isLiveDataset": "cr:isLiveDataset",
            "jsonPath": "cr:jsonPath",
            "key": "cr:key",
            "md5": "cr:md5",
            "parentField": "cr:parentField",
            "path": "cr:path",
            "recordSet": "cr:recordSet",
            "references": "cr:references",
            "regex": "cr:regex",
            "repeated": "cr:repeated",
            "replace": "cr:replace",
            "separator": "cr:separator",
            "source": "cr:source",
            "subField": "cr:subField",
            "transform": "cr:transform",
        },
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": f"climb-{source}",
        "description": (
            f"{source} converted by climb {manifest['code_version']} into WebDataset shards "
            f"(schema {manifest['schema_version']}): {manifest['counts']['written']} samples."
        ),
        "url": "https://github.com/climb-data/climb",
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "version": manifest["schema_version"],
        "citeAs": "climb: clinical ML data engineering toolkit",
        "distribution": files,
        "recordSet": [{"@type": "cr:RecordSet", "@id": "samples", "name": "samples", "field": fields}],
    }
