"""Discover and read for spec sources (pipelines/sources/spec.py): the code behind every YAML spec.

discover() lists the files the spec's globs match, cuts fields from each relative path (`path`,
`name`, `stem`, `parent` and the named groups of `files.fields`), reads the label sheet and the
sheets joined to it, and pairs rows with files by their normalised key. Every file and every row
ends as one record, so each is counted:

- a file no row describes: excluded ("not in label sheet");
- a row whose file is missing (sheet.describes = files): quarantined when read;
- a row matching several files, a file whose path does not fit `files.fields`, a split value the
  spec does not map: quarantined with that reason;
- a label value in `exclude`: excluded with that reason.

read() decodes with the shared readers (image2d for JPG/PNG/DICOM, video_io for clips and cines,
nifti for volumes), standardizes by the spec's options, and maps each label through its task.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import math
import re
from typing import Any, Iterator

from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources.image2d import RawTree
from climb.pipelines.sources.spec import HASH, MODALITY_EXTENSIONS, Spec, norm_value, spec_of
from climb.schemas.json_member import DICOM_TAGS, register_source_meta
from climb.schemas.sample import Record, Sample
from climb.transforms.splits import normalise_official

IMAGE_OPTIONS = {"size": 224, "out_dtype": "uint8", "clahe": None, "color": "rgb", "window": "auto"}
VIDEO_OPTIONS = {"num_frames": None, "fps": None, "size": None, "color": "rgb", "frame_rate": 30.0}
VOLUME_OPTIONS = {"dtype": "float32"}
NOT_IN_SHEET = "not in label sheet"


SPEC_META = {"dicom": DICOM_TAGS, "unmapped_labels": "tasks:[string]"}
"""What a spec sample's json carries beyond its field's metadata: the allow-listed tags of a DICOM
file, and the raw labels a label map did not know (schemas/json_member.py declares the types)."""


def source_info(spec: Spec) -> SourceInfo:
    """The SourceInfo of a spec; the spec itself rides in the defaults, so it reaches every worker.

    Building it also declares the spec's json metadata, in whichever process looks the spec up."""
    base = {"image": IMAGE_OPTIONS, "video": VIDEO_OPTIONS, "volume": VOLUME_OPTIONS}[spec.modality]
    register_source_meta(spec.name, SPEC_META)
    return SourceInfo(
        name=spec.name,
        description=spec.description,
        modalities=(spec.modality,),
        tasks=tuple(label.task for label in spec.labels),
        discover=discover,
        read=read,
        defaults={**base, **spec.options, "spec": spec.mapping},
        split_fractions=dict(spec.split.fractions),
    )


# ------------------------------------------------------------------------------------------ discover


def _read_sheet(tree: RawTree, pattern: str, delimiter: str | None) -> list[dict[str, str]]:
    """Rows of a CSV/TSV sheet (gzip allowed), every value the stripped string the file holds."""
    rel = tree.require(pattern)
    with tree.fs.open(f"{tree.root}/{rel}", "rb", compression="infer") as f:
        text = f.read().decode("utf-8-sig")
    if delimiter is None:
        delimiter = "\t" if rel.lower().removesuffix(".gz").endswith(".tsv") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    return [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


def _columns(rows: list[dict[str, str]], needed: tuple[str, ...], sheet: str) -> None:
    header = set(rows[0]) if rows else set()
    missing = [c for c in needed if rows and c not in header]
    if missing:
        raise SourceError(f"{sheet} has no column(s) {missing}; it has {sorted(header)}")


def _file_fields(rel: str, pattern: re.Pattern | None) -> dict[str, str] | None:
    name = rel.rsplit("/", 1)[-1]
    lowered = name.lower()
    stem = name[: -len(".nii.gz")] if lowered.endswith(".nii.gz") else name.rsplit(".", 1)[0]
    fields = {"path": rel, "name": name, "stem": stem, "parent": rel.rsplit("/", 2)[-2] if "/" in rel else ""}
    if pattern is not None:
        match = pattern.search(rel)
        if match is None:
            return None
        fields.update({k: v for k, v in match.groupdict().items() if v is not None})
    return fields


def _list_files(tree: RawTree, spec: Spec) -> list[str]:
    found: set[str] = set()
    extensions = MODALITY_EXTENSIONS[spec.modality]
    for pattern in spec.globs:
        for path in tree.fs.glob(f"{tree.root}/{pattern}"):
            rel = path[len(tree.root) + 1:]
            if rel.lower().endswith(extensions) and not any(fnmatch.fnmatch(rel, ex) for ex in spec.exclude):
                found.add(rel)
    return sorted(found)


def _key(values: dict[str, str], names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(norm_value(values.get(n, "")) for n in names)


def _joined_rows(tree: RawTree, spec: Spec) -> list[dict[str, str]]:
    sheet = spec.sheet
    rows = _read_sheet(tree, sheet.path, sheet.delimiter)
    _columns(rows, sheet.key, sheet.path)
    for join in spec.joins:
        extra = _read_sheet(tree, join.path, join.delimiter)
        _columns(extra, join.key, join.path)
        by_key = {_key(row, join.key): row for row in extra}
        rows = [{**by_key.get(_key(row, sheet.key), {}), **row} for row in rows]
    return rows


def _split_lookup(tree: RawTree, spec: Spec) -> dict[str, str]:
    """Normalised field value -> split name or HASH, from `split.values` or the `split.lists` files."""
    lookup = dict(spec.split.values)
    for split, rel in spec.split.lists:
        path = tree.require(rel)
        with tree.fs.open(f"{tree.root}/{path}", "rb") as f:
            for line in f.read().decode("utf-8-sig").splitlines():
                if line.strip():
                    lookup[norm_value(line)] = split
    return lookup


def _official(spec: Spec, fields: dict[str, str], lookup: dict[str, str]) -> tuple[str | None, str | None]:
    """(official split or None for the hash, problem) of one sample."""
    if not spec.split.field:
        return None, None
    raw = fields.get(spec.split.field, "")
    if spec.split.lists:
        value = lookup.get(norm_value(raw), HASH)
    elif spec.split.values:
        value = lookup.get(norm_value(raw))
        if value is None:
            return None, f"split value {raw!r} of {spec.split.field} is not in the spec's split.values"
    else:
        try:
            value = normalise_official(raw)
        except ValueError as exc:
            return None, str(exc)
    return (None if value == HASH else value), None


def _record(spec: Spec, tree: RawTree, sample_id: str, fields: dict[str, str], rels: list[str],
            lookup: dict[str, str], problem: str | None = None) -> Record:
    official, split_problem = _official(spec, fields, lookup)
    subject = fields.get(spec.subject, "") if spec.subject else ""
    group = fields.get(spec.group, "") if spec.group else ""
    wanted = {f for label in spec.labels for f in label.fields()}
    return Record(
        source=spec.name,
        sample_id=sample_id,
        subject_id=subject or sample_id,
        group_id=group or None,
        paths=tuple(tree.url(rel) for rel in rels),
        label_row={f: fields.get(f, "") for f in sorted(wanted)},
        official_split=official,
        options={"error": problem or split_problem} if problem or split_problem else {},
    )


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    """One record per file (and per sheet row without a file); see the module docstring."""
    spec = spec_of(options)
    tree = RawTree(raw_url, options)
    pattern = re.compile(spec.path_fields) if spec.path_fields else None
    files = _list_files(tree, spec)
    lookup = _split_lookup(tree, spec)
    fields_of: dict[str, dict[str, str]] = {}
    for rel in files:
        fields = _file_fields(rel, pattern)
        if fields is None:
            yield Record(source=spec.name, sample_id=rel, subject_id=rel, paths=(tree.url(rel),),
                         options={"error": "the file path does not match the spec's files.fields pattern"})
        else:
            fields_of[rel] = fields
    if spec.sheet is None:
        for rel, fields in fields_of.items():
            yield _record(spec, tree, rel, fields, [rel], lookup)
        return
    sheet = spec.sheet
    by_key: dict[tuple[str, ...], list[str]] = {}
    for rel, fields in fields_of.items():
        by_key.setdefault(_key(fields, sheet.file_key), []).append(rel)
    described: set[str] = set()
    for row in _joined_rows(tree, spec):
        key = _key(row, sheet.key)
        rels = by_key.get(key, [])
        described.update(rels)
        if sheet.describes == "groups":
            for rel in rels:
                yield _record(spec, tree, rel, {**row, **fields_of[rel]}, [rel], lookup)
        elif not rels:
            yield _record(spec, tree, "sheet:" + "/".join(key), row, [], lookup,
                          f"listed in {sheet.path} ({'/'.join(row.get(k, '') for k in sheet.key)}) but no file matches")
        elif len(rels) > 1:
            yield _record(spec, tree, rels[0], {**row, **fields_of[rels[0]]}, rels, lookup,
                          f"{len(rels)} files match one row of {sheet.path}: {', '.join(rels)}")
        else:
            yield _record(spec, tree, rels[0], {**row, **fields_of[rels[0]]}, rels, lookup)
    for rel in fields_of:
        if rel not in described:
            yield Record(source=spec.name, sample_id=rel, subject_id=rel, paths=(tree.url(rel),),
                         options={"exclude": NOT_IN_SHEET})


# ---------------------------------------------------------------------------------------------- read


def _truthy(value: str) -> bool | None:
    """A 0/1 cell as bool; blank or anything else is None (unknown)."""
    try:
        number = float(value)
    except ValueError:
        return None
    return {1.0: True, 0.0: False}.get(number)


def _label(spec: Spec, label, row: dict[str, str]) -> tuple[Any, list[str], str | None]:
    """(label value, unmapped raw codes, exclusion reason) of one task for one sample."""
    task = spec.task(label)
    if label.columns:
        values = dict((cls.casefold(), _truthy(row.get(col, ""))) for cls, col in label.columns)
        vector = [values.get(c.casefold()) for c in task.classes]
        return [None if v is None else int(v) for v in vector], [], None
    if label.one_hot:
        codes = [col for col in label.one_hot if _truthy(row.get(col, ""))]
    else:
        cell = "/".join(v for v in (row.get(c, "") for c in label.column) if v)
        codes = [c for c in (cell.split(label.separator) if label.separator else [cell]) if c.strip()]
    hit = [c for c in codes if norm_value(c) in label.exclude]
    if hit:
        return None, [], f"label {hit[0]!r} is excluded by the spec"
    if task.type == "regression":
        return _number(codes, label.range), [], None
    value, unmapped = task.map_codes(spec.name, [norm_value(c) for c in codes])
    return value, unmapped, None


def _number(codes: list[str], bounds: tuple[float, float] | None) -> float | None:
    if len(codes) != 1:
        return None
    try:
        value = float(codes[0])
    except ValueError:
        return None
    if not math.isfinite(value) or bounds is not None and not bounds[0] <= value <= bounds[1]:
        return None
    return value


def _decode(spec: Spec, record: Record, options: dict[str, Any]) -> tuple[str, Any, dict[str, Any], dict[str, Any]]:
    """(field, array, field meta, extra meta) of the record's file."""
    url = record.paths[0]
    lowered = url.lower()
    if spec.modality == "image":
        from climb.pipelines.sources.image2d import read_dicom, read_image

        if lowered.endswith((".dcm", ".dicom")):
            image, meta, tags = read_dicom(url, options)
            return "image", image, meta, {"dicom": tags}
        image, meta = read_image(url, options, color=options.get("color", "rgb") == "rgb")
        return "image", image, meta, {}
    if spec.modality == "video":
        from climb.pipelines.limits import limit
        from climb.pipelines.sources.video_io import decode_dicom_cine, decode_video, finish_video
        from climb.storage import local_copy

        suffix = "." + lowered.rsplit(".", 1)[-1]
        with local_copy(url, options.get("storage_options"), suffix=suffix) as path:
            decode = decode_dicom_cine if suffix == ".dcm" else decode_video
            frames, fps = decode(path, limit(options, "max_pixels"))
        video, meta = finish_video(frames, fps or float(options.get("frame_rate", 30.0)), options)
        return "video", video, meta, {}
    from climb.pipelines.sources import nifti

    sample = nifti.read(record, options)
    return "volume", sample.arrays["volume"], sample.meta["volume"], {}


def read(record: Record, options: dict[str, Any]) -> Sample:
    """Decode and standardize one file and map its labels; see the module docstring for failures."""
    if record.options.get("exclude"):
        raise Excluded(record.options["exclude"])
    if record.options.get("error"):
        raise SourceError(record.options["error"])
    spec = spec_of(options)
    labels: dict[str, Any] = {}
    unmapped: dict[str, list[str]] = {}
    for label in spec.labels:
        value, codes, excluded = _label(spec, label, record.label_row)
        if excluded:
            raise Excluded(excluded)
        labels[label.task] = value
        if codes:
            unmapped[label.task] = codes
    name, array, field_meta, extra = _decode(spec, record, options)
    meta: dict[str, Any] = {name: field_meta, **extra}
    if unmapped:
        meta["unmapped_labels"] = unmapped
    return Sample(arrays={name: array}, meta=meta, labels=labels)
