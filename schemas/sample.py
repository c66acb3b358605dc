"""The common sample schema: what every source must produce, whatever its raw layout.

A source's `read()` returns a `Sample`: arrays keyed by schema field plus a plain metadata dict and
labels. `validate()` checks it against the field specs below and returns precise errors instead of
raising, so the pipeline can quarantine a bad sample with its reason and carry on.

Fields and how each is stored in a WebDataset record (member name = ``<field>.<ext>``):

=========  ==============================  =====================  ===========================
field      array                           member                 required metadata
=========  ==============================  =====================  ===========================
image      uint8/uint16 [H, W] or [H,W,3]  image.png              spacing (row, col) in mm or None
signal     float32 [C, T]                  signal.npy             sampling_rate (Hz), channels, units
video      uint8 [T, H, W] or [T,H,W,3]    video.mp4 or Zarr      fps
volume     int16/float32 [Z, Y, X]         Zarr + preview.png     spacing (z, y, x) mm, orientation
graph      x [N,F], edge_index [2,E], ...  graph.npz              -
text       str                             text.txt               -
tabular    dict[str, float|None]           tabular.json           -
=========  ==============================  =====================  ===========================

Per-field metadata lives under the field's name (``meta["signal"]["sampling_rate"]``) so a
multimodal sample can carry an image and a signal without their metadata colliding; sample-level
metadata (dataset, modality list, ...) sits at the top level. Metadata is JSON (`json` member) and
never holds names, dates or original identifiers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCHEMA_VERSION = "1.1.0"

SCHEMA_CHANGELOG = {
    "1.0.0": "First release: image, signal, video, volume, graph, text, tabular fields; json metadata.",
    "1.1.0": (
        "The json and tabular.json members follow a declared per-dataset type (schemas/json_member.py): "
        "every declared field present (null when absent), numbers of the declared kind, allow-listed DICOM "
        "attributes in one fixed `dicom` struct (multi-valued ones as lists), data-keyed dicts such as "
        "PTB-XL's scp_codes as sorted [{key, value}] lists, image.voi always {kind, center, width, function}. "
        "Shard bytes change; each field now has one Arrow type across a dataset's samples."
    ),
}

MODALITIES = ("image", "signal", "video", "volume", "graph", "text", "tabular")


@dataclass(frozen=True)
class Record:
    """One sample as found by a source's discover(): cheap to make, holds no decoded data.

    `sample_id` and `subject_id` are the raw identifiers; the pipeline pseudonymizes both before
    anything is written, so sources never need to care about PHI in keys.
    """

    source: str
    sample_id: str
    subject_id: str
    paths: tuple[str, ...]
    label_row: dict[str, Any] = field(default_factory=dict)
    official_split: str | None = None
    study_id: str | None = None
    group_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def source_path(self) -> str:
        """The file a human should look at when this sample is quarantined."""
        return self.paths[0] if self.paths else self.sample_id


@dataclass
class Sample:
    """A decoded, standardized sample before encoding.

    Args:
        arrays: field name -> array (or str for text, dict for tabular, dict of arrays for graph).
        meta: JSON-able metadata (units, spacing, sampling rate, channel names, ...).
        labels: task name -> value; None means unknown/uncertain and is masked, never guessed.
        subject_id: the raw subject id when only decoding reveals it (a DICOM PatientID); it
            replaces the Record's provisional subject for pseudonymization and the split, and
            is never written as is.
        study_id: likewise for the study.
    """

    arrays: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    subject_id: str | None = None
    study_id: str | None = None


@dataclass(frozen=True)
class ValidationError:
    field: str
    expected: str
    got: str

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected}, got {self.got}"


@dataclass(frozen=True)
class FieldSpec:
    """What one array field must look like."""

    name: str
    dtypes: tuple[str, ...]
    ndims: tuple[int, ...]
    extension: str
    required_meta: tuple[str, ...] = ()
    channel_axis_last: tuple[int, ...] = ()


FIELDS: dict[str, FieldSpec] = {
    "image": FieldSpec("image", ("uint8", "uint16"), (2, 3), "png", ("spacing",)),
    "signal": FieldSpec("signal", ("float32",), (2,), "npy", ("sampling_rate", "channels", "units")),
    "video": FieldSpec("video", ("uint8",), (3, 4), "mp4", ("fps",)),
    "volume": FieldSpec("volume", ("int16", "float32", "uint8"), (3,), "zarr", ("spacing", "orientation")),
}

GRAPH_KEYS = {"x": ("float32", 2), "edge_index": ("int64", 2), "edge_attr": ("float32", 2)}


def _check_array(name: str, arr: Any, spec: FieldSpec) -> list[ValidationError]:
    if not isinstance(arr, np.ndarray):
        return [ValidationError(name, "numpy.ndarray", type(arr).__name__)]
    errors = []
    if str(arr.dtype) not in spec.dtypes:
        errors.append(ValidationError(f"{name}.dtype", "|".join(spec.dtypes), str(arr.dtype)))
    if arr.ndim not in spec.ndims:
        errors.append(ValidationError(f"{name}.ndim", "|".join(map(str, spec.ndims)), str(arr.ndim)))
    if 0 in arr.shape:
        errors.append(ValidationError(f"{name}.shape", "no empty axis", str(arr.shape)))
    if name in ("image", "video") and arr.ndim == max(spec.ndims) and arr.shape[-1] != 3:
        errors.append(ValidationError(f"{name}.shape[-1]", "3 (RGB)", str(arr.shape[-1])))
    if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.isfinite(arr).sum())
        errors.append(ValidationError(f"{name}.values", "finite numbers", f"{bad} NaN/inf values"))
    return errors


def _check_spacing(value: Any, n: int, fieldname: str) -> list[ValidationError]:
    if value is None:
        return []
    try:
        values = [float(v) for v in value]
    except (TypeError, ValueError):
        return [ValidationError(fieldname, f"{n} positive numbers", repr(value))]
    if len(values) != n or not all(math.isfinite(v) and v > 0 for v in values):
        return [ValidationError(fieldname, f"{n} positive numbers", repr(value))]
    return []


def _check_json(fieldname: str, value: Any) -> list[ValidationError]:
    """Metadata and tabular values are written as strict JSON; catch what the writer would refuse."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return [ValidationError(fieldname, "plain JSON values (no NaN/inf, no numpy scalars)", str(exc))]
    return []


def _check_graph(graph: Any) -> list[ValidationError]:
    if not isinstance(graph, dict):
        return [ValidationError("graph", "dict of arrays", type(graph).__name__)]
    errors = []
    for key, (dtype, ndim) in GRAPH_KEYS.items():
        arr = graph.get(key)
        if key == "edge_attr" and arr is None:
            continue
        if not isinstance(arr, np.ndarray):
            errors.append(ValidationError(f"graph.{key}", f"{dtype} array", type(arr).__name__))
            continue
        if str(arr.dtype) != dtype or arr.ndim != ndim:
            errors.append(ValidationError(f"graph.{key}", f"{dtype} rank {ndim}", f"{arr.dtype} rank {arr.ndim}"))
    if errors:
        return errors
    x, ei = graph["x"], graph["edge_index"]
    if ei.shape[0] != 2:
        errors.append(ValidationError("graph.edge_index.shape[0]", "2", str(ei.shape[0])))
    elif ei.size and (ei.min() < 0 or ei.max() >= x.shape[0]):
        errors.append(ValidationError("graph.edge_index", f"node ids in [0, {x.shape[0]})", f"[{ei.min()}, {ei.max()}]"))
    ea = graph.get("edge_attr")
    if ea is not None and ea.shape[0] != ei.shape[1]:
        errors.append(ValidationError("graph.edge_attr.shape[0]", str(ei.shape[1]), str(ea.shape[0])))
    if not np.isfinite(x).all():
        errors.append(ValidationError("graph.x.values", "finite numbers", "NaN/inf values"))
    return errors


def validate(sample: Sample, tasks: tuple[str, ...] = (), required_tasks: tuple[str, ...] = ()) -> list[ValidationError]:
    """Check a sample against the schema and the task registry.

    Args:
        sample: the standardized sample.
        tasks: tasks this source may label; a label for any other task is an error.
        required_tasks: tasks whose label must be present (it may still be masked with None).

    Returns:
        Every problem found, each naming the field, what was expected and what was found;
        an empty list means the sample is valid.
    """
    from climb.schemas.tasks import TASKS

    errors: list[ValidationError] = []
    if not sample.arrays:
        errors.append(ValidationError("arrays", "at least one modality", "none"))
    for name, value in sample.arrays.items():
        if name in FIELDS:
            spec = FIELDS[name]
            errors += _check_array(name, value, spec)
            meta = sample.meta.get(name)
            if not isinstance(meta, dict):
                errors.append(ValidationError(f"meta.{name}", "a dict of field metadata", type(meta).__name__))
                continue
            for key in spec.required_meta:
                if key not in meta:
                    errors.append(ValidationError(f"meta.{name}.{key}", "present", "missing"))
            if name == "image":
                errors += _check_spacing(meta.get("spacing"), 2, f"meta.{name}.spacing")
            elif name == "volume":
                errors += _check_spacing(meta.get("spacing"), 3, f"meta.{name}.spacing")
            elif name == "signal" and isinstance(value, np.ndarray) and value.ndim == 2:
                channels = meta.get("channels") or []
                if len(channels) != value.shape[0]:
                    errors.append(ValidationError("meta.signal.channels", f"{value.shape[0]} names", str(len(channels))))
                fs = meta.get("sampling_rate")
                if not isinstance(fs, (int, float)) or not fs > 0:
                    errors.append(ValidationError("meta.signal.sampling_rate", "positive number", repr(fs)))
            elif name == "video" and "fps" in meta:
                fps = meta["fps"]
                if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (math.isfinite(fps) and fps > 0):
                    errors.append(ValidationError("meta.video.fps", "positive number", repr(fps)))
        elif name == "graph":
            errors += _check_graph(value)
        elif name == "text":
            if not isinstance(value, str):
                errors.append(ValidationError("text", "str", type(value).__name__))
        elif name == "tabular":
            if not isinstance(value, dict):
                errors.append(ValidationError("tabular", "dict", type(value).__name__))
            else:
                errors += _check_json("tabular", value)
        else:
            errors.append(ValidationError(f"arrays.{name}", "one of " + ", ".join(MODALITIES), "unknown field"))
    errors += _check_json("meta", sample.meta)
    for task, value in sample.labels.items():
        if task not in TASKS:
            errors.append(ValidationError(f"labels.{task}", "a registered task", "unknown task"))
            continue
        if tasks and task not in tasks:
            errors.append(ValidationError(f"labels.{task}", "a task of this source", "foreign task"))
        problem = TASKS[task].check(value)
        if problem:
            errors.append(ValidationError(f"labels.{task}", problem[0], problem[1]))
    for task in required_tasks:
        if task not in sample.labels:
            errors.append(ValidationError(f"labels.{task}", "present (None if unknown)", "missing"))
    return errors
