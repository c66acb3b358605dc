"""Generic ultrasound video: a folder of MP4/AVI clips and DICOM multi-frame cines, optional labels.

Every file under RAW_URL with a video extension (.mp4, .avi, .mov, .mkv) is decoded with OpenCV;
every .dcm file is read as a multi-frame cine (the DICOM cine mode: frame rate from CineRate /
RecommendedDisplayFrameRate / FrameTime, colour converted to RGB by pydicom). Frames are sampled,
resized and colour-converted by config (pipelines/sources/video_io.py).

Labels are optional. With option `labels` (a CSV path relative to RAW_URL) each row names a file
(`path_column`, default "path", relative to RAW_URL) and its raw label (`label_column`, default
"label") for the registered task `task` (default "lung_us_finding"): a class name of that task,
matched case-insensitively, or a number for a regression task; anything else is masked. An
optional `subject_column` groups clips of one patient into one split and `split_column` carries
an official split. With a sheet, files it does not list are counted as excluded and rows whose
file is missing are quarantined; without one, the subject is the file's folder
(`subject_from`="parent") or its name ("stem", the default).

Options: labels, task, path_column, label_column, subject_column, split_column, subject_from,
frame_rate (used when a file carries none, default 30), and the video options of video_io.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Iterator

from climb.pipelines.limits import limit
from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources.video_io import VIDEO_DEFAULTS, decode_dicom_cine, decode_video, finish_video
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task
from climb.storage import filesystem, join, local_copy

NAME = "video"
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv")
DICOM_EXTENSIONS = (".dcm",)
NOT_IN_SHEET = "not in label sheet"
DEFAULT_TASK = "lung_us_finding"


def _sheet(fs, root: str, options: dict[str, Any]) -> dict[str, dict[str, str]]:
    name = str(options["labels"])
    path_col = options.get("path_column", "path")
    label_col = options.get("label_column", "label")
    with fs.open(f"{root}/{name}", "rb") as f:
        reader = csv.DictReader(io.TextIOWrapper(f, encoding="utf-8-sig"))
        wanted = [path_col, label_col] + [options[k] for k in ("subject_column", "split_column") if options.get(k)]
        missing = [c for c in wanted if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{name} has no column(s) {missing}; found {reader.fieldnames}")
        return {row[path_col].strip().removeprefix("./"): row for row in reader}


def _subject(rel: str, options: dict[str, Any]) -> str:
    if options.get("subject_from") == "parent" and "/" in rel:
        return rel.rsplit("/", 1)[0]
    return rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    fs, root = filesystem(raw_url, options.get("storage_options"))
    base = root.rstrip("/")
    exts = VIDEO_EXTENSIONS + DICOM_EXTENSIONS
    files = sorted(p[len(base) + 1:] for p in fs.find(root) if p.lower().endswith(exts))
    if not options.get("labels"):
        for rel in files:
            yield Record(source=NAME, sample_id=rel, subject_id=_subject(rel, options), paths=(join(raw_url, rel),))
        return
    check_task(options.get("task", DEFAULT_TASK))
    rows = _sheet(fs, root, options)
    subject_col, split_col = options.get("subject_column"), options.get("split_column")
    for rel in sorted(set(rows) | set(files)):
        if rel not in rows:
            yield Record(source=NAME, sample_id=rel, subject_id=_subject(rel, options), paths=(join(raw_url, rel),),
                         options={"exclude": NOT_IN_SHEET})
            continue
        row = rows[rel]
        yield Record(
            source=NAME,
            sample_id=rel,
            subject_id=row[subject_col].strip() if subject_col else _subject(rel, options),
            paths=(join(raw_url, rel),),
            label_row={"label": row[options.get("label_column", "label")]},
            official_split=row[split_col].strip() if split_col and row[split_col].strip() else None,
        )


def check_task(task_name: str) -> None:
    """Refuse, before any decoding, a task that does not exist or that one sheet value cannot label."""
    task = get_task(task_name)
    if task.type not in ("binary", "multiclass", "regression"):
        raise ValueError(f"task {task_name} is {task.type}; the video source labels binary, multiclass or regression tasks")


def map_label(task_name: str, raw: Any) -> Any:
    """A raw sheet value as a label of `task_name`: a class name (case-insensitive) or a number; else None."""
    task = get_task(task_name)
    text = str(raw if raw is not None else "").strip()
    if task.type == "regression":
        try:
            value = float(text)
        except ValueError:
            return None
        return value if math.isfinite(value) else None
    try:
        return task.class_index(text)
    except KeyError:
        return None


def read(record: Record, options: dict[str, Any]) -> Sample:
    if record.options.get("exclude"):
        raise Excluded(record.options["exclude"])
    url = record.paths[0]
    suffix = "." + url.rsplit(".", 1)[-1].lower()
    with local_copy(url, options.get("storage_options"), suffix=suffix) as path:
        if suffix in DICOM_EXTENSIONS:
            frames, fps = decode_dicom_cine(path, limit(options, "max_pixels"))
        else:
            frames, fps = decode_video(path, limit(options, "max_pixels"))
    if not fps:
        fps = float(options.get("frame_rate", 30.0))
    if frames.ndim not in (3, 4):
        raise SourceError(f"decoded frames have shape {frames.shape}")
    video, meta = finish_video(frames, fps, options)
    labels = {}
    if options.get("labels"):
        task = options.get("task", DEFAULT_TASK)
        labels[task] = map_label(task, record.label_row.get("label"))
    return Sample(arrays={"video": video}, meta={"video": meta}, labels=labels)


def labelled_tasks(options: dict[str, Any]) -> tuple[str, ...]:
    """The task read() labels: the `task` option's, when a labels sheet is given."""
    return (options.get("task", DEFAULT_TASK),) if options.get("labels") else ()


SOURCE = SourceInfo(
    name=NAME,
    description="folder of ultrasound clips (MP4/AVI) and DICOM multi-frame cines, optional labels CSV: RGB video",
    modalities=("video",),
    tasks=(),
    discover=discover,
    read=read,
    labelled_tasks=labelled_tasks,
    defaults={**VIDEO_DEFAULTS, "frame_rate": 30.0},
)
