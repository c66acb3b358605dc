"""Decode, standardize, validate and encode one sample; a failure of its content is quarantined.

`process_item` is the whole per-sample unit of work. It never raises for a bad sample: the result is
always one of three entry kinds (written / quarantined / excluded), so a conversion accounts for
every discovered sample whatever happens inside a source. It does raise `StorageFailure` when the
store fails (reading raw bytes, writing Zarr arrays): that is not the sample's fault, and
quarantining it would let an outage silently change the dataset. The runner then retries the
bundle, or the run fails before its manifest is written.

Quarantine entries name the sample by its pseudonymous key, never by raw path, and their messages
are scrubbed of paths and of the raw files' names (transforms/redact.py).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from climb.pipelines.limits import check_raw_files
from climb.pipelines.records import WorkItem
from climb.pipelines.scrub import scrub
from climb.pipelines.sources import Excluded, SourceInfo
from climb.pipelines.writers.members import encode_members
from climb.pipelines.writers.png import png_codec
from climb.pipelines.writers.record_types import record_types
from climb.pipelines.writers.wds_tar import Fragment, make_fragment
from climb.pipelines.writers.zarr_store import write_array
from climb.schemas.json_member import conform
from climb.schemas.sample import SCHEMA_VERSION, Sample, validate
from climb.schemas.tasks import TASKS
from climb.storage import (
    StorageFailure, describe_failure, filesystem, held, is_local, is_storage_failure, local_path, open_raw, storage_errors,
)
from climb.transforms.redact import redact
from climb.transforms.safe_text import safe_tree

MAX_MESSAGE = 500


@dataclass(frozen=True)
class Context:
    """What every worker needs to process items; picklable."""

    source: str
    dataset_url: str
    options: dict[str, Any]
    storage_options: dict[str, Any]
    hmac_key: bytes
    salt: str
    fractions: dict[str, float]


_DIGESTS: OrderedDict[tuple[str, Any, Any], bytes] = OrderedDict()
_DIGEST_CACHE_SIZE = 256


def file_digest(url: str, storage_options: dict[str, Any]) -> bytes:
    """sha256 of one raw file, remembered per (url, size, mtime) within a worker process.

    Sources that cut one file into many samples (EEG windows, sleep epochs) would otherwise
    re-read the whole recording for every sample. Local files are read with a plain open: fsspec's
    filesystem lookup, info and file object cost more than hashing a small file.
    """
    with storage_errors("reading a raw file"):
        if is_local(url):
            path = local_path(url)
            st = os.stat(path)
            key = (url, st.st_size, st.st_mtime)
            opener = partial(open, path, "rb")
        else:
            entry = held(url)
            if entry is not None:  # fetched ahead (climb.prefetch): its size and ETag cost no request
                info = entry.info
            else:
                fs, path = filesystem(url, storage_options)
                info = fs.info(path)
            key = (url, info.get("size"), info.get("mtime") or info.get("LastModified") or info.get("ETag"))
            opener = partial(open_raw, url, storage_options)  # the held bytes when whole, else streamed
        if key in _DIGESTS:
            _DIGESTS.move_to_end(key)
            return _DIGESTS[key]
        with opener() as f:
            _DIGESTS[key] = hashlib.file_digest(f, "sha256").digest()
    if len(_DIGESTS) > _DIGEST_CACHE_SIZE:
        _DIGESTS.popitem(last=False)
    return _DIGESTS[key]


def source_sha256(item: WorkItem, storage_options: dict[str, Any]) -> str | None:
    """Fingerprint of the raw bytes and raw label row of a sample (None if a file is missing or
    unreadable for its own reasons; a failing store raises StorageFailure)."""
    from climb.pipelines.writers.members import json_bytes

    digest = hashlib.sha256()
    try:
        for url in item.record.paths:
            digest.update(file_digest(url, storage_options))
    except OSError:
        return None
    digest.update(json_bytes(item.record.label_row))
    return digest.hexdigest()


def _quarantine(item: WorkItem, stage: str, exc: BaseException, fingerprint: str | None) -> dict[str, Any]:
    """The quarantine entry for a content failure; re-raises a failure of the store instead.

    The classification looks through the whole exception chain, so a source that wrapped a
    connection reset in its own SourceError still fails the bundle rather than the sample.
    """
    if isinstance(exc, StorageFailure):
        raise exc
    if is_storage_failure(exc):
        raise StorageFailure(f"{stage} failed: {describe_failure(exc)}") from None
    text = str(exc).strip()
    message = text.splitlines()[0] if text else type(exc).__name__
    return {
        "kind": "quarantined",
        "key": item.key,
        "stage": stage,
        "error_type": type(exc).__name__,
        "message": redact(message, item.raw_names)[:MAX_MESSAGE],
        "source_sha256": fingerprint,
        "split": item.split,
    }


class SchemaError(ValueError):
    """A sample that does not match the schema; the message lists every problem."""


def label_masks(labels: dict[str, Any]) -> dict[str, Any]:
    return {task: TASKS[task].mask(value) for task, value in labels.items()}


def _metadata(item: WorkItem, sample: Sample, fingerprint: str | None) -> dict[str, Any]:
    # source metadata echoes raw text (sheet cells, DICOM/EDF header strings): never a formula
    meta = safe_tree(dict(sample.meta))
    meta.update(
        {
            "schema_version": SCHEMA_VERSION,
            "dataset": item.record.source,
            "sample_id": item.key,
            "subject_id": item.subject,
            "study_id": item.study,
            "split": item.split,
            "modalities": sorted(k for k in sample.arrays if k != "preview"),
            "labels": sample.labels,
            "label_mask": label_masks(sample.labels),
            "source_sha256": fingerprint,
        }
    )
    return meta


VIDEO_MAX_FRAMES_IN_TAR = 256


def _store_in_zarr(ctx: Context, item: WorkItem, sample: Sample, meta: dict[str, Any], field: str) -> dict[str, Any]:
    """Move a volume (always) or a long video from the record into volumes.zarr; leave a preview.

    The tar record keeps the metadata (with `zarr_path`, shape, chunks) and a small preview.png, so
    galleries and filters never need the array itself.
    """
    from climb.storage import join
    from climb.transforms.volume import volume_preview

    array = sample.arrays.pop(field)
    fmeta = dict(meta[field])
    attrs = {
        "dataset": item.record.source,
        "sample_id": item.key,
        "schema_version": SCHEMA_VERSION,
        **{k: fmeta[k] for k in ("spacing", "orientation", "units", "fps") if k in fmeta},
    }
    name = item.key if field == "volume" else f"{item.key}_{field}"
    info = write_array(join(ctx.dataset_url, "volumes.zarr"), name, array, attrs, ctx.storage_options)
    fmeta.update({"zarr_path": info["path"], "shape": info["shape"], "dtype": info["dtype"], "chunks": info["chunks"]})
    meta[field] = fmeta
    if "preview" not in sample.arrays:
        if field == "volume":
            sample.arrays["preview"] = volume_preview(array, fmeta["spacing"], fmeta.get("window"))
        else:
            sample.arrays["preview"] = np.ascontiguousarray(array[array.shape[0] // 2])
    return info


def _zarr_fields(ctx: Context, sample: Sample) -> list[str]:
    """Fields stored in Zarr: every volume, and videos longer than `video_max_frames_in_tar` frames."""
    fields = ["volume"] if "volume" in sample.arrays else []
    video = sample.arrays.get("video")
    if video is not None and video.shape[0] > int(ctx.options.get("video_max_frames_in_tar", VIDEO_MAX_FRAMES_IN_TAR)):
        fields.append("video")
    return fields


def _identify(ctx: Context, item: WorkItem, sample: Sample) -> WorkItem:
    """Adopt ids found while decoding: pseudonymize them and re-derive the split from the subject."""
    from dataclasses import replace

    from climb.transforms.phi import pseudonymize
    from climb.transforms.splits import assign_split

    changes: dict[str, Any] = {}
    if sample.study_id:
        changes["study"] = pseudonymize(str(sample.study_id), ctx.hmac_key, "study")
    if sample.subject_id and item.record.group_id is None:
        subject = pseudonymize(str(sample.subject_id), ctx.hmac_key, "subject")
        changes.update(subject=subject, group=subject, split=assign_split(subject, ctx.salt, ctx.fractions, item.record.official_split))
    return replace(item, **changes)


def _declared_members(info: SourceInfo, options: dict[str, Any], sample: Sample, meta: dict[str, Any]) -> dict[str, Any]:
    """The json metadata (returned) and the tabular member (in place) conformed to the source's
    declared types (schemas/json_member.py), so every record of a dataset types each field alike."""
    meta_kind, tabular_kind = record_types(info, options)
    meta, errors = conform(meta, meta_kind)
    if isinstance(sample.arrays.get("tabular"), dict):
        sample.arrays["tabular"], tab_errors = conform(safe_tree(sample.arrays["tabular"]), tabular_kind or {}, "tabular")
        errors += tab_errors
    if errors:
        raise SchemaError("; ".join(str(e) for e in errors))
    return meta


def process_item(ctx: Context, info: SourceInfo, item: WorkItem) -> tuple[dict[str, Any], Fragment | None]:
    """One sample through read -> scrub (pipelines/scrub.py, when configured) -> validate -> encode.

    Returns:
        (entry, fragment): the entry describes the outcome (kind written/quarantined/excluded);
        the fragment holds the sample's tar blocks when it was written.

    Raises:
        StorageFailure: the raw store or the output store failed; the message names the sample by
            its key (an operator resolves it with `climb inspect --locate`).
    """
    try:
        return _process(ctx, info, item)
    except StorageFailure as exc:
        raise StorageFailure(f"sample {item.key}: {exc}") from None


def _process(ctx: Context, info: SourceInfo, item: WorkItem) -> tuple[dict[str, Any], Fragment | None]:
    try:
        check_raw_files(item.record.paths, ctx.options)
    except Exception as exc:  # noqa: BLE001 - refused before any byte is read (pipelines/limits.py)
        return _quarantine(item, "read", exc, None), None
    fingerprint = source_sha256(item, ctx.options.get("storage_options") or {})
    try:
        sample = info.read(item.record, ctx.options)
    except Excluded as exc:
        reason = redact(str(exc), item.raw_names)
        return {"kind": "excluded", "key": item.key, "reason": reason, "source_sha256": fingerprint}, None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - any source failure is a quarantine reason, decoder panics
        # included: pylibjpeg's Rust decoders raise pyo3's PanicException (a BaseException) on corrupt data
        return _quarantine(item, "read", exc, fingerprint), None
    if sample.subject_id or sample.study_id:
        item = _identify(ctx, item, sample)
    try:
        scrub(sample.arrays, ctx.options)
    except Exception as exc:  # noqa: BLE001 - an image the scrubber could not clean is never written
        return _quarantine(item, "scrub", exc, fingerprint), None
    try:
        sample.labels = numpy_free(sample.labels)
        sample.meta = numpy_free(sample.meta)
        errors = validate(sample, tasks=info.tasks)
        if errors:
            raise SchemaError("; ".join(str(e) for e in errors))
        meta = _declared_members(info, ctx.options, sample, _metadata(item, sample, fingerprint))
    except Exception as exc:  # noqa: BLE001
        return _quarantine(item, "validate", exc, fingerprint), None
    try:
        stored = [_store_in_zarr(ctx, item, sample, meta, f) for f in _zarr_fields(ctx, sample)]
        fragment = make_fragment(item.key, encode_members(sample.arrays, meta, png_codec(ctx.options)))
    except Exception as exc:  # noqa: BLE001 - a Zarr write that failed in the store re-raises
        return _quarantine(item, "encode", exc, fingerprint), None
    entry = {
        "kind": "written",
        "key": item.key,
        "split": item.split,
        "order": item.order,
        "subject": item.subject,
        "labels": sample.labels,
        "modalities": meta["modalities"],
        "size": len(fragment.data),
        "source_sha256": fingerprint,
        "volumes": stored,
        "split_moved": item.split_moved,
    }
    return entry, fragment


_PLAIN = frozenset({str, int, float, bool, type(None)})


def numpy_free(value: Any) -> Any:
    """Entries cross process boundaries as plain Python; numpy scalars become ints/floats.

    Plain leaves are recognised by exact type first: a sample's metadata is ~85 nodes, walked three
    times per sample, and the isinstance chain cost ~0.2 ms of a ~3.5 ms sample.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict or isinstance(value, dict):
        return {k: numpy_free(v) for k, v in value.items()}
    if kind is list or isinstance(value, (list, tuple)):
        return [numpy_free(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
