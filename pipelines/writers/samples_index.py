"""The rows of samples.json (the per-sample index Croissant readers take records from), built per shard.

Pure: a shard's parsed json members in, its part of the index out. WriteShard stages the part beside
the shard's catalog part; Finalize concatenates the parts (pipelines/writers/documents.py).
"""

from __future__ import annotations

from typing import Any

from climb.pipelines.writers.members import json_bytes
from climb.schemas.tasks import TASKS


def samples_index_part(metas: list[dict[str, Any]], tasks: tuple[str, ...]) -> bytes:
    """One shard's rows of samples.json (`{key, split, subject_id, labels, label_mask}` joined by ","),
    from its samples' json members in shard order.

    WriteShard builds it from the json members it has just parsed for the catalog, so Finalize never
    reads the shards back. Every task is present in every row (null label, false mask when unknown),
    so JSONPath readers get one value per row for each field.
    """
    names = sorted(tasks)
    rows = []
    for meta in metas:
        labels = {t: meta["labels"].get(t) for t in names}
        masks = {t: meta["label_mask"].get(t, TASKS[t].mask(None)) for t in names}
        rows.append(json_bytes({"key": meta["sample_id"], "split": meta["split"], "subject_id": meta["subject_id"],
                                "labels": labels, "label_mask": masks}))
    return b",".join(rows)
