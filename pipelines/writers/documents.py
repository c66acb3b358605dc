"""The descriptive files written beside the shards before the manifest, and their pins in it.

README.md (dataset card) and croissant.json are functions of the manifest; samples.json (the
per-sample index Croissant readers take records from) of the written shards' json members. The
manifest, written last, pins each by sha256 and size under `documents`, like shards and Zarr arrays,
so `climb verify` and `climb reproduce` cover them too.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from climb.pipelines.writers.card import card_bytes
from climb.pipelines.writers.croissant import croissant
from climb.pipelines.sources import get_source
from climb.pipelines.writers.members import json_bytes
from climb.pipelines.writers.record_types import dataset_options, source_tasks
from climb.schemas.tasks import TASKS

DOCUMENT_NAMES = ("README.md", "croissant.json", "quarantine.jsonl", "samples.json")


def _json_members(fs, root: str, shard: dict[str, Any]) -> list[dict[str, Any]]:
    """The decoded json member of every record of one written shard, in shard order (via its .idx)."""
    index = json.loads(fs.cat_file(f"{root}/{shard['index']}"))
    spans = [s["members"]["json"] for s in index["samples"]]
    path = f"{root}/{shard['path']}"
    blobs = fs.cat_ranges([path] * len(spans), [a for a, _ in spans], [a + n for a, n in spans])
    return [json.loads(blob) for blob in blobs]


def samples_index(fs, root: str, manifest: dict[str, Any], tasks: tuple[str, ...]) -> bytes:
    """samples.json: {"samples": [{key, split, subject_id, labels, label_mask}]} in shard order.

    Read back from the written shards' json members (the shards are final when this runs), so the
    index says exactly what the records say. Every task is present in every row (null label, false
    mask when unknown), so JSONPath readers get one value per row for each field.
    """
    rows = []
    for shard in sorted(manifest["shards"], key=lambda s: s["path"]):
        for meta in _json_members(fs, root, shard):
            labels = {t: meta["labels"].get(t) for t in sorted(tasks)}
            masks = {t: meta["label_mask"].get(t, TASKS[t].mask(None)) for t in sorted(tasks)}
            rows.append({"key": meta["sample_id"], "split": meta["split"], "subject_id": meta["subject_id"],
                         "labels": labels, "label_mask": masks})
    return json_bytes({"samples": rows})


def documents(manifest: dict[str, Any], quarantine: bytes, fs, root: str) -> dict[str, bytes]:
    """name -> bytes of every document, built from the manifest and the written shards before the
    manifest pins them (`fs`, `root`: the dataset folder's filesystem and path)."""
    info = get_source(manifest["source"], manifest["config"]["options"])
    index = samples_index(fs, root, manifest, source_tasks(info, dataset_options(info, manifest)))
    return {
        "README.md": card_bytes(manifest),
        "croissant.json": json_bytes(croissant(manifest, index)),
        "quarantine.jsonl": quarantine,
        "samples.json": index,
    }


def pin_documents(manifest: dict[str, Any], docs: dict[str, bytes]) -> dict[str, Any]:
    """The manifest with `documents`: [{path, sha256, bytes}] sorted by path."""
    pins = [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in sorted(docs.items())]
    return {**manifest, "documents": pins}
