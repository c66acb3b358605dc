"""The descriptive files written beside the shards before the manifest, and their pins in it.

README.md (dataset card) and croissant.json are functions of the manifest; samples.json (the
per-sample index Croissant readers take records from) and quarantine.jsonl of the entries. The
manifest, written last, pins each by sha256 and size under `documents`, like shards and Zarr arrays,
so `climb verify` and `climb reproduce` cover them too.
"""

from __future__ import annotations

import hashlib
from typing import Any

from climb.pipelines.writers.card import card_bytes
from climb.pipelines.writers.croissant import croissant
from climb.pipelines.sources import get_source
from climb.pipelines.writers.manifest import quarantine_lines
from climb.pipelines.writers.members import json_bytes
from climb.pipelines.writers.record_types import dataset_options, source_tasks
from climb.schemas.json_member import conform, label_type
from climb.schemas.tasks import TASKS

DOCUMENT_NAMES = ("README.md", "croissant.json", "quarantine.jsonl", "samples.json")


def samples_index(entries: list[dict[str, Any]], tasks: tuple[str, ...]) -> bytes:
    """samples.json: {"samples": [{key, split, subject_id, labels, label_mask}]} in shard order.

    Every task is present in every row (null label, false mask when unknown), so JSONPath readers
    get one value per row for each field.
    """
    written = sorted((e for e in entries if e["kind"] == "written"), key=lambda e: (e["split"], e["order"]))
    rows = []
    kinds = {t: label_type(t) for t in sorted(tasks)}
    for e in written:
        labels, _ = conform({t: e["labels"].get(t) for t in kinds}, kinds)  # validated already: numbers take their kind
        rows.append({"key": e["key"], "split": e["split"], "subject_id": e["subject"], "labels": labels,
                     "label_mask": {t: TASKS[t].mask(v) for t, v in labels.items()}})
    return json_bytes({"samples": rows})


def documents(manifest: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, bytes]:
    """name -> bytes of every document, built from the manifest and entries before the manifest pins them."""
    info = get_source(manifest["source"])
    index = samples_index(entries, source_tasks(info, dataset_options(info, manifest)))
    return {
        "README.md": card_bytes(manifest),
        "croissant.json": json_bytes(croissant(manifest, index)),
        "quarantine.jsonl": quarantine_lines(entries),
        "samples.json": index,
    }


def pin_documents(manifest: dict[str, Any], docs: dict[str, bytes]) -> dict[str, Any]:
    """The manifest with `documents`: [{path, sha256, bytes}] sorted by path."""
    pins = [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in sorted(docs.items())]
    return {**manifest, "documents": pins}
