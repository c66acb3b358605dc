"""EchoNet-Dynamic: apical-4-chamber echo videos with ejection fraction and LV volumes.

Layout: ``Videos/<FileName>.avi`` (112x112, ~50 fps) and ``FileList.csv`` (FileName, EF, ESV, EDV,
FrameHeight, FrameWidth, FPS, NumberOfFrames, Split = TRAIN / VAL / TEST); VolumeTracings.csv is
not needed here. One sample per video: RGB frames decoded by OpenCV, sampled/resized by config
(pipelines/sources/video_io.py), with `lvef` (regression, %), `lvef_category` (<40 reduced,
40-49 mildly reduced, >=50 normal), `lv_edv` and `lv_esv` (mL). The official Split is kept,
including 'VAL' (the reference code looks for 'VALID' and so never finds a validation set).
Each video is its own subject: EchoNet-Dynamic has one video per patient.

FileName may be written with or without ".avi". Videos missing from FileList.csv are counted as
excluded; rows whose video is missing, and videos OpenCV cannot open, are quarantined.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Iterator

from climb.pipelines.limits import limit
from climb.pipelines.sources import Excluded, SourceInfo
from climb.pipelines.sources.video_io import VIDEO_DEFAULTS, decode_video, finish_video
from climb.schemas.sample import Record, Sample
from climb.schemas.task_defs.imaging import LVEF_BOUNDS
from climb.storage import filesystem, join, local_copy

NAME = "echonet"
SHEET = "FileList.csv"
COLUMNS = ("FileName", "EF", "ESV", "EDV", "FPS", "Split")
NOT_IN_SHEET = "not in label sheet"


def _stem(name: str) -> str:
    return name[:-4] if name.lower().endswith(".avi") else name


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    fs, root = filesystem(raw_url, options.get("storage_options"))
    if not fs.exists(f"{root}/{SHEET}"):
        raise FileNotFoundError(f"{SHEET} not found under {raw_url}; is this an EchoNet-Dynamic folder?")
    with fs.open(f"{root}/{SHEET}", "rb") as f:
        reader = csv.DictReader(io.TextIOWrapper(f, encoding="utf-8-sig"))
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{SHEET} has no column(s) {missing}; found {reader.fieldnames}")
        rows = {_stem(row["FileName"].strip()): row for row in reader}
    videos = {_stem(p.rsplit("/", 1)[-1]) for p in fs.glob(f"{root}/Videos/*.avi")}
    for stem in sorted(set(rows) | videos):
        path = (join(raw_url, "Videos", f"{stem}.avi"),)
        if stem not in rows:
            yield Record(source=NAME, sample_id=stem, subject_id=stem, paths=path, options={"exclude": NOT_IN_SHEET})
            continue
        row = rows[stem]
        yield Record(
            source=NAME,
            sample_id=stem,
            subject_id=stem,
            paths=path,
            label_row={k: row.get(k) for k in ("EF", "ESV", "EDV", "FPS", "NumberOfFrames")},
            official_split=row["Split"].strip().lower(),
        )


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def ef_category(ef: float | None) -> int | None:
    """Index into LVEF_CATEGORIES: < 40 reduced, 40 to < 50 mildly reduced, >= 50 normal."""
    if ef is None:
        return None
    return sum(ef >= bound for bound in LVEF_BOUNDS)


def read(record: Record, options: dict[str, Any]) -> Sample:
    if record.options.get("exclude"):
        raise Excluded(record.options["exclude"])
    with local_copy(record.paths[0], options.get("storage_options"), suffix=".avi") as path:
        frames, fps = decode_video(path, limit(options, "max_pixels"))
    if not fps > 0:
        fps = _number(record.label_row.get("FPS")) or 0.0
    video, meta = finish_video(frames, fps, options)
    ef = _number(record.label_row.get("EF"))
    labels = {
        "lvef": ef,
        "lvef_category": ef_category(ef),
        "lv_edv": _number(record.label_row.get("EDV")),
        "lv_esv": _number(record.label_row.get("ESV")),
    }
    return Sample(arrays={"video": video}, meta={"video": meta}, labels=labels)


SOURCE = SourceInfo(
    name=NAME,
    description="EchoNet-Dynamic echo videos (AVI + FileList.csv): RGB video, EF regression and category, EDV/ESV",
    modalities=("video",),
    tasks=("lvef", "lvef_category", "lv_edv", "lv_esv"),
    discover=discover,
    read=read,
    defaults=dict(VIDEO_DEFAULTS),
)
