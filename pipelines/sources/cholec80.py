"""Cholec80 (CAMMA): 80 laparoscopic cholecystectomy videos with phase and tool annotations.

Layout:

    videos/videoNN.mp4                      25 fps
    phase_annotations/videoNN-phase.txt     "Frame<TAB>Phase", one row per video frame (25 fps)
    tool_annotations/videoNN-tool.txt       "Frame<TAB>Grasper<TAB>Bipolar<TAB>...<TAB>SpecimenBag",
                                            one row every 25 frames (1 fps), 0/1 per tool

Sample unit: one frame every `every_frames` frames (default 25, i.e. 1 fps: the rate of the tool
annotations, as EndoNet and CLIMB sample), stored as an RGB image (long side `size`, default 224).
Labels: surgical_phase from the phase row of that frame (an unknown phase name is masked) and
surgical_tools from the tool row of the same frame (masked when the tool file has no row for it).

Splits: grouped by video. `split_policy` "endonet" (default) is the split of the dataset's paper:
videos 1-40 train, 41-80 test (no validation videos); "hash" uses the pipeline's grouped hash
(CLIMB drew 80/20 by video from an unsorted listdir that listed videos several times). Videos
without a phase file, and frames the annotations list past the video's end, are quarantined.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import numpy as np

from climb.pipelines.sources import SourceError, SourceInfo
from climb.pipelines.sources.image2d import IMAGE_DEFAULTS, RawTree, standardize
from climb.schemas.sample import Record, Sample
from climb.schemas.task_defs.dedicated import CHOLEC80_TOOLS
from climb.schemas.tasks import get_task
from climb.storage import local_copy

NAME = "cholec80"
VIDEO = re.compile(r"^video(\d+)\.(mp4|avi)$", re.IGNORECASE)
DEFAULTS: dict[str, Any] = {**IMAGE_DEFAULTS, "every_frames": 25, "split_policy": "endonet"}


def parse_annotation(text: str) -> tuple[list[str], dict[int, list[str]]]:
    """(header, {frame: the row's other fields}) of a tab-separated Cholec80 annotation file."""
    lines = [line.split("\t") for line in text.splitlines() if line.strip()]
    if not lines or lines[0][0].strip().lower() != "frame":
        raise SourceError("annotation file does not start with a Frame header")
    rows: dict[int, list[str]] = {}
    for n, fields in enumerate(lines[1:], start=2):
        try:
            rows[int(fields[0])] = [f.strip() for f in fields[1:]]
        except ValueError:
            raise SourceError(f"annotation line {n} has no frame number: {fields[0]!r}") from None
    return [h.strip() for h in lines[0]], rows


def endonet_split(number: int) -> str:
    """EndoNet's Cholec80 split: videos 1-40 train, 41-80 test."""
    return "train" if number <= 40 else "test"


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    opts = {**DEFAULTS, **options}
    step = int(opts["every_frames"])
    if step < 1:
        raise ValueError(f"option every_frames={step}: must be at least 1")
    if opts["split_policy"] not in ("endonet", "hash"):
        raise ValueError(f"option split_policy={opts['split_policy']!r}: use endonet or hash")
    tree = RawTree(raw_url, options)
    for rel in tree.files("videos", (".mp4", ".avi")):
        match = VIDEO.match(rel.rsplit("/", 1)[-1])
        if not match:
            continue
        video = f"video{match.group(1)}"
        split = endonet_split(int(match.group(1))) if opts["split_policy"] == "endonet" else None
        common = {"source": NAME, "subject_id": video, "study_id": video, "paths": (tree.url(rel),), "official_split": split}
        phase_rel = tree.find(f"{video}-phase.txt", ("phase_annotations", ""))
        if phase_rel is None:
            yield Record(sample_id=rel, label_row={"error": f"no phase annotation {video}-phase.txt"}, **common)
            continue
        try:
            _, phases = parse_annotation(tree.fs.cat_file(f"{tree.root}/{phase_rel}").decode("utf-8", errors="replace"))
            tool_rel = tree.find(f"{video}-tool.txt", ("tool_annotations", ""))
            header, tools = (parse_annotation(tree.fs.cat_file(f"{tree.root}/{tool_rel}").decode("utf-8", errors="replace"))
                             if tool_rel else (["Frame", *CHOLEC80_TOOLS], {}))
        except SourceError as exc:
            yield Record(sample_id=rel, label_row={"error": str(exc)}, **common)
            continue
        columns = header[1:]
        for frame in sorted(f for f in phases if f % step == 0):
            row = tools.get(frame)
            flags = dict(zip(columns, row)) if row is not None else None
            yield Record(sample_id=f"{rel}#{frame:06d}", label_row={"frame": frame, "phase": phases[frame][0] if phases[frame] else "",
                                                                    "tools": flags}, **common)


def read_frame(url: str, frame: int, options: dict[str, Any]) -> tuple[np.ndarray, float]:
    """Frame `frame` of a video as RGB uint8 [H, W, 3], and the container's frame rate.

    Raises:
        SourceError: the video cannot be opened or ends before that frame.
    """
    import cv2

    with local_copy(url, options.get("storage_options"), suffix="." + url.rsplit(".", 1)[-1]) as path:
        cap = cv2.VideoCapture(path)
        try:
            if not cap.isOpened():
                raise SourceError("OpenCV cannot open the video (unknown container or codec, or not a video)")
            fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            if frame >= count:
                raise SourceError(f"annotated frame {frame} is past the end of the video ({count} frames)")
            cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
            ok, image = cap.read()
        finally:
            cap.release()
    if not ok:
        raise SourceError(f"frame {frame} cannot be decoded (truncated video?)")
    return np.ascontiguousarray(image[..., ::-1]), fps


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if "error" in row:
        raise SourceError(row["error"])
    opts = {**DEFAULTS, **options}
    frame, fps = read_frame(record.paths[0], row["frame"], options)
    image, image_meta = standardize(frame, opts)
    phase, _ = get_task("surgical_phase").map_codes(NAME, [row["phase"]])
    tools = None
    if row["tools"] is not None:
        tools = [{"1": 1, "0": 0}.get(row["tools"].get(name, "")) for name in CHOLEC80_TOOLS]
    return Sample(
        arrays={"image": image},
        meta={"image": image_meta, "frame": {"index": row["frame"], "time_s": row["frame"] / fps if fps else None, "fps": fps},
              "phase": row["phase"]},
        labels={"surgical_phase": phase, "surgical_tools": tools},
    )


SOURCE = SourceInfo(
    name=NAME,
    description="Cholec80 laparoscopic videos + phase/tool annotations: RGB frames at 1 fps, 7 phases and 7 tools",
    modalities=("image",),
    tasks=("surgical_phase", "surgical_tools"),
    discover=discover,
    read=read,
    defaults=DEFAULTS,
)
