"""The declared type of a dataset's `json` member (and `tabular.json`): one type per field, every sample.

Readers that build columns from records (Hugging Face datasets' webdataset builder, Arrow, pandas,
Croissant) need every sample of a dataset to give a field the same type. Sources fill metadata as
they find it, so without a declaration one sample holds `"spacing": null` and the next a list, one a
DICOM tag the next lacks, one an int where the next holds a float. This module declares, per dataset,
every field and its type, and `conform` rewrites a sample's metadata to that declaration:

- every declared field is present; a value the sample does not have is a null of the declared type
  (the dataset card and croissant.json carry the types, so readers type those nulls);
- numbers take the declared kind (an int in a float field becomes a float);
- allow-listed DICOM attributes sit in one fixed `dicom` struct, multi-valued ones always as lists;
- dictionaries whose keys are data (PTB-XL's {statement: likelihood}) become sorted
  `[{"key": k, "value": v}]` lists (`Map`), so no key ever becomes a column of its own;
- a field the declaration does not know, or a value of another type, is a schema error: the sample
  is quarantined with the field's path, never written with a type its dataset does not declare.

Types: "string", "int64", "float64", "bool"; [T] a list of T; {name: T} a struct with fixed fields;
Map(T) and Multi(T) as above. The same declaration renders as Hugging Face `features` (dataset card)
and as Croissant dataTypes (pipelines/writers/card.py, croissant.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from climb.schemas.sample import ValidationError
from climb.schemas.tasks import get_task

STRING, INT, FLOAT, BOOL = "string", "int64", "float64", "bool"


@dataclass(frozen=True)
class Map:
    """A dict whose keys are data, written as a key-sorted list of {"key", "value"} pairs."""

    value: Any


@dataclass(frozen=True)
class Multi:
    """A DICOM attribute of value multiplicity 1-n: always written as a list, one value or many."""

    value: Any


_VOI = {"kind": STRING, "center": FLOAT, "width": FLOAT, "function": STRING}
_LENGTH = {"align": STRING, "cropped_samples": INT, "original_samples": INT, "pad_value": FLOAT, "padded_samples": INT}
_ZARR = {"zarr_path": STRING, "shape": [INT], "dtype": STRING, "chunks": [INT]}

# Field metadata by schema field: the union of what every source writes under meta[field].
MODALITY_META: dict[str, dict[str, Any]] = {
    "image": {
        "spacing": [FLOAT], "original_shape": [INT], "pad": [INT], "scale": [FLOAT], "inverted": BOOL,
        "photometric": STRING, "voi": _VOI, "view": STRING, "hours_from_admission": FLOAT, "studies_in_window": INT,
    },
    "signal": {
        "sampling_rate": FLOAT, "channels": [STRING], "units": STRING, "channel_mask": [INT],
        "source_sampling_rate": FLOAT, "length": _LENGTH, "montage": STRING,
        "window": {"index": INT, "start_s": FLOAT, "length_s": FLOAT},
        "epoch": {"index": INT, "start_s": FLOAT, "length_s": FLOAT},
        "ecgs_in_window": INT, "hours_from_admission": FLOAT,
    },
    "video": {
        "fps": FLOAT, "num_frames": INT, "source_fps": FLOAT, "source_num_frames": INT, "inverted": BOOL,
        "original_shape": [INT], "photometric": STRING, "spacing": [FLOAT], **_ZARR,
    },
    "volume": {
        "spacing": [FLOAT], "orientation": STRING, "units": STRING, "affine": [[FLOAT]], "native_spacing": [FLOAT],
        "window": STRING, "axes": STRING, **_ZARR,
    },
    "graph": {"node_features": [STRING], "edge_features": [STRING], "edge_rule": STRING, "num_nodes": INT, "num_edges": INT},
    "text": {"notes": [{"type": STRING, "hours_from_admission": FLOAT}]},
    "tabular": {
        "window": {"index_hours": FLOAT, "lookback_hours": FLOAT},
        "lab_units": Map(STRING),
        "lab_labels": Map(STRING),
    },
}

# transforms/phi.py's DICOM allow-list with each attribute's type (Multi: value multiplicity 1-n).
DICOM_TAGS: dict[str, Any] = {
    "Modality": STRING, "BodyPartExamined": STRING, "ViewPosition": STRING, "ImageLaterality": STRING,
    "Laterality": STRING, "PatientOrientation": Multi(STRING), "PhotometricInterpretation": STRING,
    "SamplesPerPixel": INT, "PlanarConfiguration": INT, "Rows": INT, "Columns": INT, "NumberOfFrames": INT,
    "BitsAllocated": INT, "BitsStored": INT, "HighBit": INT, "PixelRepresentation": INT,
    "RescaleSlope": FLOAT, "RescaleIntercept": FLOAT, "RescaleType": STRING, "WindowCenter": Multi(FLOAT),
    "WindowWidth": Multi(FLOAT), "VOILUTFunction": STRING, "PixelSpacing": Multi(FLOAT),
    "ImagerPixelSpacing": Multi(FLOAT), "SliceThickness": FLOAT, "SpacingBetweenSlices": FLOAT,
    "ImagePositionPatient": Multi(FLOAT), "ImageOrientationPatient": Multi(FLOAT), "FrameTime": FLOAT,
    "CineRate": INT, "RecommendedDisplayFrameRate": INT, "TransferSyntaxUID": STRING, "Manufacturer": STRING,
    "MagneticFieldStrength": FLOAT, "KVP": FLOAT, "ConvolutionKernel": Multi(STRING),
}

_CXR_POLICY = {"label_policy": {"uncertain": STRING, "blank": STRING}}
_MAMMO = {"dicom": DICOM_TAGS, "laterality": STRING, "view": STRING}

# Source-specific metadata beyond the common fields: top-level keys, plus overrides of a field's
# metadata where a source describes it differently. A source without an entry has none.
SOURCE_META: dict[str, dict[str, Any]] = {
    "dicom": {"dicom": DICOM_TAGS},
    "vindr-cxr": {"dicom": DICOM_TAGS, "num_readers": INT},
    "cbis-ddsm": {
        "dicom": DICOM_TAGS, "abnormality_types": [STRING], "breast_density": INT, "laterality": STRING,
        "num_abnormalities": INT, "view": STRING,
    },
    "chexpert": {**_CXR_POLICY, "age": FLOAT, "sex": STRING, "view": STRING, "projection": STRING},
    "mimic-cxr": {**_CXR_POLICY, "view": STRING},
    "ham10000": {"age": FLOAT, "sex": STRING, "dx": STRING, "dx_type": STRING, "localization": STRING},
    "aptos": {"unmapped_labels": [STRING]},
    "ptbxl": {"age": FLOAT, "sex": STRING, "strat_fold": INT, "scp_codes": Map(FLOAT), "unmapped_codes": "tasks:[string]"},
    "challenge-ecg": {"age": FLOAT, "sex": STRING, "dx_codes": [STRING], "dx_map": STRING, "unmapped_codes": "tasks:[string]"},
    "chapman": {"age": FLOAT, "sex": STRING, "dx_codes": [STRING], "dx_map": STRING, "unmapped_codes": "tasks:[string]"},
    "tuab": {"recording_duration_s": FLOAT},
    "sleep-edf": {"annotation": STRING},
    "connectome": {"site": STRING, "graph": {"node_features": STRING}},
    "molecules": {"smiles": STRING},
    "mimic-iv": {"present": {"tabular": BOOL, "image": BOOL, "signal": BOOL, "text": BOOL}},
    "tuev": {
        "recording_duration_s": FLOAT,
        "event": {"channel": STRING, "code": STRING, "offset_s": FLOAT, "length_s": FLOAT},
    },
    "isruc": {"scorer_rule": STRING, "scorers": {"1": STRING, "2": STRING}},
    "shhs": {"stage_code": STRING},
    "braingb-abide": {"site": STRING, "graph": {"node_features": STRING}},
    "braingb-abcd": {"graph": {"node_features": STRING}},
    "braingb-ppmi": {"graph": {"node_features": STRING, "view": INT}},
    "vindr-mammo": _MAMMO,
    "cmmd": {**_MAMMO, "abnormality": STRING, "subtype": STRING},
    "inspect": {"pe_flags": {"pe_positive": INT, "pe_acute": INT, "pe_subsegmentalonly": INT}},
    "cholec80": {"phase": STRING, "frame": {"index": INT, "time_s": FLOAT, "fps": FLOAT}},
}


def register_source_meta(source: str, types: dict[str, Any]) -> None:
    """Declare the metadata of a plug-in source (see pipelines.sources.register)."""
    SOURCE_META[source] = types


def label_type(task_name: str) -> Any:
    """The label's type: class index (binary/multiclass), 0/1 list (multilabel) or number (regression)."""
    kind = get_task(task_name).type
    return {"multilabel": [INT], "regression": FLOAT}.get(kind, INT)


def mask_type(task_name: str) -> Any:
    return [BOOL] if get_task(task_name).type == "multilabel" else BOOL


def declared_meta(source: str, modalities: Iterable[str], tasks: Iterable[str]) -> dict[str, Any]:
    """The struct type of the `json` member of a dataset of `source`.

    Args:
        source: the registered source name (its SOURCE_META entry adds source-specific fields).
        modalities: the schema fields its samples may carry (each adds its field metadata).
        tasks: the tasks it may label (each is a field of `labels` and `label_mask`).
    """
    tasks = sorted(tasks)
    extras = dict(SOURCE_META.get(source, {}))
    out: dict[str, Any] = {
        "schema_version": STRING,
        "dataset": STRING,
        "sample_id": STRING,
        "subject_id": STRING,
        "study_id": STRING,
        "split": STRING,
        "modalities": [STRING],
        "labels": {t: label_type(t) for t in tasks},
        "label_mask": {t: mask_type(t) for t in tasks},
        "source_sha256": STRING,
    }
    for field in modalities:
        if field in MODALITY_META:
            out[field] = {**MODALITY_META[field], **extras.pop(field, {})}
    for key, value in extras.items():
        out[key] = {t: [STRING] for t in tasks} if value == "tasks:[string]" else value
    return out


def declared_tabular(fields: Iterable[str]) -> dict[str, Any]:
    """The struct type of a `tabular.json` member: every feature a (nullable) number."""
    return {name: FLOAT for name in fields}


def conform(value: Any, kind: Any, path: str = "meta") -> tuple[Any, list[ValidationError]]:
    """`value` rewritten to the declared type `kind`, and every place where it cannot be.

    Returns:
        (conformed value, errors); errors name the field path, the type expected and what was found.
    """
    errors: list[ValidationError] = []
    return _conform(value, kind, path, errors), errors


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}"


def _conform(value: Any, kind: Any, path: str, errors: list[ValidationError]) -> Any:
    if value is None:
        return None
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            errors.append(ValidationError(path, "an object", _describe(value)))
            return None
        for key in sorted(set(value) - set(kind)):
            errors.append(ValidationError(f"{path}.{key}", "a field declared in schemas/json_member.py", "undeclared field"))
        return {key: _conform(value.get(key), sub, f"{path}.{key}", errors) for key, sub in kind.items()}
    if isinstance(kind, Map):
        if isinstance(value, list) and all(isinstance(p, dict) and set(p) == {"key", "value"} for p in value):
            value = {p["key"]: p["value"] for p in value}  # the written form: conforming it again changes nothing
        if not isinstance(value, dict):
            errors.append(ValidationError(path, "an object", _describe(value)))
            return None
        return [{"key": str(k), "value": _conform(value[k], kind.value, f"{path}.{k}", errors)} for k in sorted(value, key=str)]
    if isinstance(kind, Multi):
        items = value if isinstance(value, list) else [value]
        return [_conform(v, kind.value, f"{path}[{i}]", errors) for i, v in enumerate(items)]
    if isinstance(kind, list):
        if not isinstance(value, (list, tuple)):
            errors.append(ValidationError(path, "a list", _describe(value)))
            return None
        return [_conform(v, kind[0], f"{path}[{i}]", errors) for i, v in enumerate(value)]
    if kind == STRING and isinstance(value, str):
        return value
    if kind == BOOL and isinstance(value, bool):
        return value
    if kind == INT and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == FLOAT and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    errors.append(ValidationError(path, kind, _describe(value)))
    return None
