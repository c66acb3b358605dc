"""The descriptive files written beside the shards before the manifest, and their pins in it.

README.md (dataset card) and croissant.json are functions of the manifest (and of samples.json's
pin); samples.json (the per-sample index Croissant readers take records from) of the written shards'
json members. samples.json is streamed: read back one shard at a time and written through a local
file while its sha256 is computed, so Finalize's memory holds one shard's records whatever the
corpus size (issue 18); the other documents are small. The manifest, written last, pins each by
sha256 and size under `documents`, like shards and Zarr arrays, so `climb verify` and `climb
reproduce` cover them too.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any, Iterator

from climb.pipelines.sources import get_source
from climb.pipelines.stages import put_atomic
from climb.pipelines.writers.card import card_bytes
from climb.pipelines.writers.croissant import croissant
from climb.pipelines.writers.members import json_bytes
from climb.pipelines.writers.record_types import dataset_options, source_tasks
from climb.schemas.tasks import TASKS

DOCUMENT_NAMES = ("README.md", "croissant.json", "quarantine.jsonl", "samples.json")
SAMPLES_INDEX = "samples.json"


def _json_members(fs, root: str, shard: dict[str, Any]) -> list[dict[str, Any]]:
    """The decoded json member of every record of one written shard, in shard order (via its .idx)."""
    index = json.loads(fs.cat_file(f"{root}/{shard['index']}"))
    spans = [s["members"]["json"] for s in index["samples"]]
    path = f"{root}/{shard['path']}"
    blobs = fs.cat_ranges([path] * len(spans), [a for a, _ in spans], [a + n for a, n in spans])
    return [json.loads(blob) for blob in blobs]


def samples_index_chunks(fs, root: str, manifest: dict[str, Any], tasks: tuple[str, ...]) -> Iterator[bytes]:
    """samples.json, `{"samples": [{key, split, subject_id, labels, label_mask}]}` in shard order, as
    consecutive byte chunks (one per shard) whose concatenation is `json_bytes` of the whole index.

    Read back from the written shards' json members (the shards are final when this runs), so the
    index says exactly what the records say. Every task is present in every row (null label, false
    mask when unknown), so JSONPath readers get one value per row for each field.
    """
    yield b'{"samples":['
    first = True
    for shard in sorted(manifest["shards"], key=lambda s: s["path"]):
        rows = []
        for meta in _json_members(fs, root, shard):
            labels = {t: meta["labels"].get(t) for t in sorted(tasks)}
            masks = {t: meta["label_mask"].get(t, TASKS[t].mask(None)) for t in sorted(tasks)}
            rows.append(json_bytes({"key": meta["sample_id"], "split": meta["split"], "subject_id": meta["subject_id"],
                                    "labels": labels, "label_mask": masks}))
        if rows:
            yield (b"" if first else b",") + b",".join(rows)
            first = False
    yield b"]}"


def write_samples_index(fs, root: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ROOT/samples.json (streamed: one shard's records in memory at a time) and return its
    pin {path, sha256, bytes}, which croissant.json and the manifest carry."""
    info = get_source(manifest["source"], manifest["config"]["options"])
    tasks = source_tasks(info, dataset_options(info, manifest))
    digest, size = hashlib.sha256(), 0
    with tempfile.TemporaryDirectory(prefix="climb-") as tmp:
        local = os.path.join(tmp, SAMPLES_INDEX)
        with open(local, "wb") as f:
            for chunk in samples_index_chunks(fs, root, manifest, tasks):
                f.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        put_atomic(fs, local, f"{root}/{SAMPLES_INDEX}")
    return {"path": SAMPLES_INDEX, "sha256": digest.hexdigest(), "bytes": size}


def documents(manifest: dict[str, Any], quarantine: bytes, samples_pin: dict[str, Any]) -> dict[str, bytes]:
    """name -> bytes of the small documents, built from the manifest before the manifest pins them
    (`samples_pin`: samples.json's pin from write_samples_index, which croissant.json names)."""
    return {
        "README.md": card_bytes(manifest),
        "croissant.json": json_bytes(croissant(manifest, samples_pin)),
        "quarantine.jsonl": quarantine,
    }


def pin_documents(manifest: dict[str, Any], docs: dict[str, bytes], written: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest with `documents`: [{path, sha256, bytes}] sorted by path, for `docs` (bytes) and
    the documents already `written` with their pins (samples.json)."""
    pins = [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in docs.items()]
    return {**manifest, "documents": sorted([*pins, *written], key=lambda pin: pin["path"])}
