"""The sample catalog: one row per written sample, so selections never have to open a shard.

A catalog row says where a sample's bytes are (shard, position, byte ranges of every member), what it
holds (modalities and stored shapes), its labels (one column per task, typed by the task registry,
null where masked) and the scalar metadata its source recorded (`meta.<path>` columns: view, site,
sampling rate, ...). Pseudonymous subject and study ids are kept so selections can be grouped by
patient; no raw identifier ever reaches a sample's metadata, so none reaches the catalog.

Everything here is pure: rows are built from a shard's index entries and the samples' metadata and
member headers (the first bytes of PNG and NPY members), then typed into an Arrow table whose column
order and types depend only on the rows and the registry, so the same dataset always gives the same
catalog bytes.
"""

from __future__ import annotations

import io
import struct
from typing import Any, Iterable, Mapping

import numpy as np
import pyarrow as pa

from climb.schemas.tasks import TASKS

CATALOG_VERSION = "1"
CATALOG_FILE = "catalog.parquet"
HEADER_BYTES = 256
"""Leading bytes of a member enough to read its stored shape (PNG IHDR, NPY header)."""

LOCATION_FIELDS = (
    pa.field("key", pa.string(), nullable=False),
    pa.field("dataset", pa.string(), nullable=False),
    pa.field("split", pa.string(), nullable=False),
    pa.field("shard", pa.string(), nullable=False),
    pa.field("sample", pa.int32(), nullable=False),
    pa.field("offset", pa.int64(), nullable=False),
    pa.field("size", pa.int64(), nullable=False),
    pa.field("members", pa.list_(pa.struct([("name", pa.string()), ("offset", pa.int64()), ("size", pa.int64())]))),
    pa.field("modalities", pa.list_(pa.string())),
    pa.field("subject_id", pa.string()),
    pa.field("study_id", pa.string()),
)
_NOT_META = {"labels", "label_mask", "modalities", "subject_id", "study_id", "sample_id", "split", "dataset",
             "schema_version", "source_sha256"}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def member_shape(member: str, head: bytes | None, meta: Mapping[str, Any]) -> list[int] | None:
    """The stored array shape of one tar member, from its first bytes or the sample's metadata.

    PNG: the IHDR chunk ([H, W] or [H, W, C]); NPY: its header; video: [frames] as the metadata
    records. None when the member holds no array (json, txt, npz).
    """
    if member.endswith(".png") and head and head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 26:
        width, height = struct.unpack(">II", head[16:24])
        channels = _PNG_CHANNELS.get(head[25], 1)
        return [height, width] if channels == 1 else [height, width, channels]
    if member.endswith(".npy") and head and head[:6] == b"\x93NUMPY":
        buf = io.BytesIO(head)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        reader = readers.get(np.lib.format.read_magic(buf))
        try:
            shape = reader(buf)[0] if reader else None
        except ValueError:  # a header longer than HEADER_BYTES
            return None
        return [int(v) for v in shape] if shape is not None else None
    if member.endswith(".mp4"):
        frames = (meta.get("video") or {}).get("num_frames")
        return [frames] if isinstance(frames, int) else None
    return None


def shapes(members: Iterable[str], heads: Mapping[str, bytes], meta: Mapping[str, Any]) -> dict[str, list[int]]:
    """`shape.<field>` columns of one sample; a volume's shape is the Zarr array's, from the metadata."""
    out = {}
    for member in members:
        shape = member_shape(member, heads.get(member), meta)
        if shape is not None:
            out[f"shape.{member.split('.', 1)[0]}"] = shape
    volume = (meta.get("volume") or {}).get("shape")
    if isinstance(volume, list):
        out["shape.volume"] = [int(v) for v in volume]
    return out


def flatten_meta(meta: Mapping[str, Any], prefix: str = "meta") -> dict[str, Any]:
    """Scalar leaves of a sample's metadata as `meta.a.b` columns (lists and nested lists left out)."""
    out: dict[str, Any] = {}
    for name, value in meta.items():
        if prefix == "meta" and name in _NOT_META:
            continue
        column = f"{prefix}.{name}"
        if isinstance(value, dict):  # parsed JSON: a dict check is ~10x cheaper than the Mapping ABC
            out.update(flatten_meta(value, column))
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[column] = value
    return out


def catalog_rows(
    *,
    dataset: str,
    split: str,
    shard: str,
    entries: list[dict[str, Any]],
    metas: list[Mapping[str, Any]],
    heads: list[Mapping[str, bytes]],
) -> list[dict[str, Any]]:
    """Rows of one shard, in shard order.

    Args:
        dataset, split, shard: the shard's dataset name, split and path relative to the dataset.
        entries: the shard's .idx entries ({key, offset, size, members: {name: [offset, size]}}).
        metas: each sample's parsed `json` member, in the same order.
        heads: each sample's member name -> its first HEADER_BYTES bytes (PNG and NPY members at least).
    """
    rows = []
    for position, (entry, meta, head) in enumerate(zip(entries, metas, heads, strict=True)):
        members = sorted(entry["members"].items())
        row: dict[str, Any] = {
            "key": entry["key"],
            "dataset": dataset,
            "split": split,
            "shard": shard,
            "sample": position,
            "offset": entry["offset"],
            "size": entry["size"],
            "members": [{"name": m, "offset": off, "size": size} for m, (off, size) in members],
            "modalities": list(meta.get("modalities") or []),
            "subject_id": meta.get("subject_id"),
            "study_id": meta.get("study_id"),
        }
        row.update(shapes((m for m, _ in members), head, meta))
        for task, value in (meta.get("labels") or {}).items():
            row[f"label.{task}"] = value
        row.update(flatten_meta(meta))
        rows.append(row)
    return rows


def _label_type(task_name: str) -> pa.DataType:
    task = TASKS.get(task_name)
    if task is None or task.type == "regression":
        return pa.float64()
    if task.type == "multilabel":
        return pa.list_(pa.int8())
    return pa.int16()


def _scalar_type(values: Iterable[Any]) -> pa.DataType:
    """One Arrow type for a metadata column: bool, int64, float64 or string (mixed kinds -> string)."""
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return pa.null()
    if kinds == {bool}:
        return pa.bool_()
    if kinds <= {int}:
        return pa.int64()
    if kinds <= {int, float}:
        return pa.float64()
    return pa.string()


def _text(value: Any) -> Any:
    """A cell of a string column: a number or boolean that shares a column with text becomes text."""
    if value is None or isinstance(value, str):
        return value
    return str(value).lower() if isinstance(value, bool) else repr(value)


def column_type(name: str, values: list[Any]) -> pa.DataType:
    """The Arrow type of a catalog column by its name's family (label., shape., meta.)."""
    if name.startswith("label."):
        return _label_type(name[len("label."):])
    if name.startswith("shape."):
        return pa.list_(pa.int64())
    return _scalar_type(values)


def catalog_table(rows: list[dict[str, Any]], columns: list[pa.Field] | None = None) -> pa.Table:
    """Type rows into an Arrow table: location fields first, then label., shape. and meta. columns sorted.

    Args:
        columns: the extra (non-location) fields to use; by default inferred from these rows. Give the
            union over all shards (`merge_fields`) so every shard's table has the same schema.
    """
    if columns is None:
        columns = infer_fields(rows)
    arrays = {}
    for f in LOCATION_FIELDS:
        arrays[f.name] = pa.array([r.get(f.name) for r in rows], type=f.type)
    for f in columns:
        values = [r.get(f.name) for r in rows]
        arrays[f.name] = pa.array([_text(v) for v in values] if pa.types.is_string(f.type) else values, type=f.type)
    schema = pa.schema(list(LOCATION_FIELDS) + list(columns), metadata={"climb_catalog_version": CATALOG_VERSION})
    return pa.Table.from_arrays([arrays[f.name] for f in schema], schema=schema)


def infer_fields(rows: list[dict[str, Any]]) -> list[pa.Field]:
    """The typed extra columns these rows carry, sorted by name."""
    location = {f.name for f in LOCATION_FIELDS}
    names = sorted({name for r in rows for name in r} - location)
    return [pa.field(name, column_type(name, [r.get(name) for r in rows])) for name in names]


def merge_fields(a: list[pa.Field], b: list[pa.Field]) -> list[pa.Field]:
    """The union of two shards' extra columns; a column typed differently widens (int->float->string)."""
    order = [pa.null(), pa.bool_(), pa.int64(), pa.float64(), pa.string()]
    merged: dict[str, pa.DataType] = {f.name: f.type for f in a}
    for f in b:
        have = merged.get(f.name)
        if have is None or have == f.type:
            merged[f.name] = f.type
        elif have in order and f.type in order:
            wider = max(order.index(have), order.index(f.type))
            if {have, f.type} == {pa.bool_(), pa.int64()} or {have, f.type} == {pa.bool_(), pa.float64()}:
                wider = order.index(pa.string())
            merged[f.name] = order[wider]
        else:
            raise ValueError(f"catalog column {f.name} is {have} in one shard and {f.type} in another")
    return [pa.field(name, merged[name]) for name in sorted(merged)]
