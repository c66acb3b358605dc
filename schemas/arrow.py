"""Samples as Arrow rows and the schema as JSON Schema, for users who analyse climb data in tables.

Arrays travel as (raw bytes, dtype, shape) so the round trip is exact for every dtype; metadata and
labels travel as canonical JSON strings, which keeps the Arrow schema fixed across datasets.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np
import pyarrow as pa

from climb.schemas.sample import FIELDS, GRAPH_KEYS, MODALITIES, SCHEMA_VERSION, Sample

_TENSOR = pa.struct([("data", pa.large_binary()), ("dtype", pa.string()), ("shape", pa.list_(pa.int64()))])

ARROW_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("schema_version", pa.string()),
        ("meta", pa.string()),
        ("labels", pa.string()),
        ("image", _TENSOR),
        ("signal", _TENSOR),
        ("video", _TENSOR),
        ("volume", _TENSOR),
        ("graph", pa.map_(pa.string(), _TENSOR)),
        ("text", pa.string()),
        ("tabular", pa.string()),
    ],
    metadata={"climb.schema_version": SCHEMA_VERSION},
)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces: one byte string per value, whoever writes it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _tensor(arr: np.ndarray | None) -> dict | None:
    if arr is None:
        return None
    arr = np.ascontiguousarray(arr)
    return {"data": arr.tobytes(), "dtype": arr.dtype.str, "shape": list(arr.shape)}


def _array(cell: dict | None) -> np.ndarray | None:
    if cell is None:
        return None
    return np.frombuffer(cell["data"], dtype=np.dtype(cell["dtype"])).reshape(cell["shape"]).copy()


def to_arrow(keyed_samples: Iterable[tuple[str, Sample]]) -> pa.Table:
    """Build an Arrow table with one row per (key, sample)."""
    rows = []
    for key, sample in keyed_samples:
        a = sample.arrays
        graph = a.get("graph")
        rows.append(
            {
                "key": key,
                "schema_version": SCHEMA_VERSION,
                "meta": canonical_json(sample.meta),
                "labels": canonical_json(sample.labels),
                **{name: _tensor(a.get(name)) for name in FIELDS},
                "graph": None if graph is None else [(k, _tensor(v)) for k, v in sorted(graph.items())],
                "text": a.get("text"),
                "tabular": None if a.get("tabular") is None else canonical_json(a["tabular"]),
            }
        )
    return pa.Table.from_pylist(rows, schema=ARROW_SCHEMA)


def from_arrow(table: pa.Table) -> list[tuple[str, Sample]]:
    """Inverse of to_arrow."""
    out = []
    for row in table.to_pylist():
        arrays: dict[str, Any] = {}
        for name in FIELDS:
            if row[name] is not None:
                arrays[name] = _array(row[name])
        if row["graph"] is not None:
            arrays["graph"] = {k: _array(v) for k, v in row["graph"]}
        if row["text"] is not None:
            arrays["text"] = row["text"]
        if row["tabular"] is not None:
            arrays["tabular"] = json.loads(row["tabular"])
        out.append((row["key"], Sample(arrays=arrays, meta=json.loads(row["meta"]), labels=json.loads(row["labels"]))))
    return out


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the `json` metadata member of a WebDataset record."""
    field_meta = {
        "image": {
            "spacing": {"type": ["array", "null"], "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 2, "maxItems": 2},
        },
        "signal": {
            "sampling_rate": {"type": "number", "exclusiveMinimum": 0},
            "channels": {"type": "array", "items": {"type": "string"}},
            "units": {"type": "string"},
        },
        "video": {"fps": {"type": "number", "exclusiveMinimum": 0}, "num_frames": {"type": "integer"}},
        "volume": {
            "spacing": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 3, "maxItems": 3},
            "orientation": {"type": "string"},
            "zarr_path": {"type": "string"},
        },
    }
    props: dict[str, Any] = {
        "schema_version": {"const": SCHEMA_VERSION},
        "dataset": {"type": "string"},
        "sample_id": {"type": "string", "description": "keyed hash of the source's sample id"},
        "subject_id": {"type": "string", "description": "keyed hash (HMAC-SHA256) of the subject id"},
        "study_id": {"type": ["string", "null"]},
        "split": {"type": "string"},
        "modalities": {"type": "array", "items": {"enum": list(MODALITIES)}},
        "labels": {"type": "object"},
        "label_mask": {"type": "object"},
        "source_sha256": {
            "type": ["string", "null"],
            "pattern": "^[0-9a-f]{64}$",
            "description": "sha256 of the raw bytes and label row; null when the raw files could not be re-read",
        },
    }
    for name, spec in FIELDS.items():
        props[name] = {
            "type": "object",
            "properties": field_meta.get(name, {}),
            "required": list(spec.required_meta),
            "description": f"metadata of the {name} member ({'/'.join(spec.dtypes)}, stored as {spec.extension})",
        }
    props["graph"] = {"type": "object", "description": "graph.npz holds " + ", ".join(GRAPH_KEYS)}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"climb-sample-{SCHEMA_VERSION}",
        "title": "climb sample metadata",
        "type": "object",
        "properties": props,
        "required": ["schema_version", "dataset", "sample_id", "subject_id", "split", "modalities", "labels", "label_mask"],
    }
