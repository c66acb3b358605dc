"""Embeddings of a converted dataset by one encoder, and `climb embed`: per-sample embeddings as Parquet.

Samples stream in manifest order (no shuffle), so the same encoder and manifest give the same rows in
the same order. Samples without the encoder's modality get no embedding and are counted, not dropped
silently. Subject ids are the pseudonyms the conversion wrote (never the raw ids).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from climb.report.samples import ordered_splits
from climb.trainer.probe import embed_rows


@dataclass
class Embedded:
    """One split's embeddings with what evaluation needs, aligned row by row (N samples with the modality).

    labels / masks hold the loaders' label tensors per requested task as numpy ([N] or [N, K]);
    raw_labels the manifest's label values (None where masked) for every task of the sample.
    """

    keys: np.ndarray  # str [N]
    subjects: np.ndarray  # str [N], pseudonymized; the sample key when a sample has no subject
    split: str
    embeddings: np.ndarray  # float32 [N, D]
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    raw_labels: list[dict[str, Any]] = field(default_factory=list)
    without_modality: int = 0  # samples of the split that lack the modality


def open_split(url: str, split: str, modality: str, tasks: Sequence[str] | None, storage_options: dict | None = None,
               where: str | None = None):
    """A ClimbDataset over one split in manifest order, reading only the modality and metadata (and,
    with a view filter `where`, only the samples it selects)."""
    from climb.loaders import ClimbDataset

    return ClimbDataset(url, split=split, shuffle=False, modalities=(modality,), tasks=tasks,
                        storage_options=storage_options, tail="drop", where=where)


def batches(url: str, split: str, modality: str, tasks: Sequence[str] | None, batch_size: int = 32,
            storage_options: dict | None = None, where: str | None = None) -> Iterator[dict[str, Any]]:
    yield from open_split(url, split, modality, tasks, storage_options, where).loader(batch_size=batch_size)


def subject_of(meta: dict[str, Any], key: str) -> str:
    """The sample's pseudonymized subject; a sample without one is its own subject."""
    return str(meta.get("subject_id") or f"sample:{key}")


@torch.no_grad()
def embed_split(encoder: nn.Module, modality: str, url: str, split: str, tasks: Sequence[str] = (),
                batch_size: int = 32, storage_options: dict | None = None, where: str | None = None) -> Embedded:
    """Run `encoder` over every sample of a split that has `modality` (and that a view filter selects)."""
    encoder.eval()
    keys, subjects, chunks, raw = [], [], [], []
    labels: dict[str, list[np.ndarray]] = {t: [] for t in tasks}
    masks: dict[str, list[np.ndarray]] = {t: [] for t in tasks}
    missing = 0
    for batch in batches(url, split, modality, tuple(tasks), batch_size, storage_options, where):
        embedded, rows = embed_rows(encoder, modality, batch)
        missing += len(batch["__key__"]) - len(rows)
        if not len(rows):
            continue
        chunks.append(embedded.numpy())
        for i in rows.tolist():
            key, meta = batch["__key__"][i], batch["meta"][i]
            keys.append(key)
            subjects.append(subject_of(meta, key))
            raw.append(meta.get("labels") or {})
        for t in tasks:
            labels[t].append(batch["labels"][t][rows].numpy())
            masks[t].append(batch["label_mask"][t][rows].numpy())
    dim = chunks[0].shape[1] if chunks else 0
    return Embedded(
        keys=np.asarray(keys, dtype=str), subjects=np.asarray(subjects, dtype=str), split=split,
        embeddings=np.concatenate(chunks) if chunks else np.zeros((0, dim), dtype=np.float32),
        labels={t: np.concatenate(v) for t, v in labels.items() if v},
        masks={t: np.concatenate(v) for t, v in masks.items() if v},
        raw_labels=raw, without_modality=missing,
    )


def file_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def embeddings_table(parts: Sequence[Embedded], task_types: dict[str, str], metadata: dict[str, str]):
    """A pyarrow Table: key, split, subject_id, embedding (fixed-size float32 list), one column per task.

    Task columns (label_<task>) hold the manifest's values: int64 for binary/multiclass, float64 for
    regression, list<int64> for multilabel; null (or null entries) where masked.
    """
    import pyarrow as pa

    dim = max((p.embeddings.shape[1] for p in parts), default=0)
    rows = sum(len(p.keys) for p in parts)
    flat = np.concatenate([p.embeddings.reshape(-1) for p in parts]) if rows else np.zeros(0, np.float32)
    kinds = {"binary": pa.int64(), "multiclass": pa.int64(), "regression": pa.float64(), "multilabel": pa.list_(pa.int64())}
    columns = {
        "key": pa.array([k for p in parts for k in p.keys.tolist()], pa.string()),
        "split": pa.array([p.split for p in parts for _ in range(len(p.keys))], pa.string()),
        "subject_id": pa.array([s for p in parts for s in p.subjects.tolist()], pa.string()),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dim),
    }
    for task, kind in sorted(task_types.items()):
        columns[f"label_{task}"] = pa.array([r.get(task) for p in parts for r in p.raw_labels], kinds[kind])
    return pa.table(columns).replace_schema_metadata(metadata)


def read_manifest(url: str, storage_options: dict | None = None) -> tuple[dict[str, Any], str]:
    """(manifest, sha256 of its bytes) of a dataset folder or its manifest.json, local or s3://."""
    from climb.loaders.io import DatasetFiles, RetryPolicy

    try:
        raw = DatasetFiles(url, storage_options, RetryPolicy(), cache=None).read_file("manifest.json")
    except FileNotFoundError:
        raise FileNotFoundError(f"no manifest.json under {url}: is this a finished `climb convert` output?") from None
    return json.loads(raw), hashlib.sha256(raw).hexdigest()


def cli_embed(args: argparse.Namespace) -> int:
    """`climb embed CHECKPOINT MANIFEST OUT.parquet` (parser in climb/cli.py)."""
    import pyarrow.parquet as pq

    from climb.errors import UserError
    from climb.loaders.shards import dataset_root
    from climb.storage import storage_options
    from climb.trainer.export import build_encoder, read_encoder_file

    try:
        record = read_encoder_file(args.checkpoint)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    encoder, modality = build_encoder(record), record["modality"]
    url = dataset_root(args.manifest)
    options = storage_options(url, args.s3_endpoint)
    manifest, manifest_sha = read_manifest(url, options)
    splits = args.splits or ordered_splits(manifest)
    unknown = sorted(set(splits) - set(manifest.get("splits", {})))
    if unknown:
        raise UserError(f"{url} has no split(s) {unknown}; it has {ordered_splits(manifest)}")
    parts = [embed_split(encoder, modality, url, s, (), args.batch_size, options) for s in splits]
    if not any(len(p.keys) for p in parts):
        raise UserError(f"no sample of {url} ({', '.join(splits)}) has the encoder's modality {modality!r}")
    task_types = {name: row["type"] for name, row in manifest.get("tasks", {}).items()}
    metadata = {"climb.encoder_sha256": file_sha256(args.checkpoint), "climb.modality": modality,
                "climb.manifest_sha256": manifest_sha, "climb.source": str(manifest.get("source")),
                "climb.schema_version": str(manifest.get("schema_version")), "climb.embedding_dim": str(record["embedding_dim"])}
    table = embeddings_table(parts, task_types, metadata)
    pq.write_table(table, args.out)
    print(json.dumps({"out": args.out, "rows": table.num_rows, "dim": record["embedding_dim"], "splits": splits,
                      "without_modality": sum(p.without_modality for p in parts)}))
    return 0
