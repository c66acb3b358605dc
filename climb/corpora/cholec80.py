"""A Cholec80 corpus in its released layout: videos/, phase_annotations/, tool_annotations/.

The videos are frames of pydicom-data's real ultrasound cine (climb.corpora.video.cine_frames),
each shifted so no two frames of a video are alike, written at 25 fps with OpenCV, a few seconds
long; the annotation files follow Cholec80's tab-separated formats (a phase row per frame, a tool
row every 25 frames).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

from climb.corpora.video import cine_frames, write_video_file
from climb.schemas.task_defs.dedicated import CHOLEC80_TOOLS

FPS = 25
# video number -> (frames, phase changes [(first frame, phase name)], tool rows missing)
_VIDEOS = {
    1: (80, ((0, "Preparation"), (30, "CalotTriangleDissection"), (60, "ClippingCutting")), ()),
    2: (60, ((0, "GallbladderDissection"), (40, "GallbladderPackaging")), (25,)),
    41: (55, ((0, "CleaningCoagulation"), (20, "GallbladderRetraction"), (45, "Idle")), ()),
}
NO_PHASES = 3
SHORT_VIDEO = 42  # annotations run to frame 74, the video holds 40 frames


@functools.lru_cache(maxsize=1)
def _pool() -> np.ndarray:
    """Six frames of the real cine at 48x64 (decoding the JPEG cine costs ~0.1 s a frame here)."""
    return cine_frames(0, 6, (48, 64))


def _frames(seed: int, count: int) -> np.ndarray:
    """`count` distinct RGB frames [T, 48, 64, 3]: the pool's frames in turn, each shifted sideways by its index."""
    pool = _pool()
    return np.stack([np.roll(pool[(seed + k) % len(pool)], k, axis=1) for k in range(count)])


def _tools(number: int, frame: int) -> list[int]:
    return [int((number * 3 + frame // 25 + k) % 4 == 0) for k in range(len(CHOLEC80_TOOLS))]


def _write(root: Path, number: int, n_frames: int, annotated: int, changes: tuple, missing_tools: tuple) -> dict[int, str]:
    write_video_file(root / "videos" / f"video{number:02d}.mp4", _frames(number, n_frames), FPS)
    phases = {}
    for frame in range(annotated):
        phases[frame] = next(name for start, name in reversed(changes) if frame >= start)
    (root / "phase_annotations").mkdir(parents=True, exist_ok=True)
    (root / "phase_annotations" / f"video{number:02d}-phase.txt").write_text(
        "Frame\tPhase\n" + "".join(f"{f}\t{p}\n" for f, p in phases.items()))
    rows = [f"{f}\t" + "\t".join(map(str, _tools(number, f))) + "\n" for f in range(0, annotated, 25) if f not in missing_tools]
    (root / "tool_annotations").mkdir(parents=True, exist_ok=True)
    (root / "tool_annotations" / f"video{number:02d}-tool.txt").write_text("Frame\t" + "\t".join(CHOLEC80_TOOLS) + "\n" + "".join(rows))
    return phases


def write_cholec80_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """Write videos/videoNN.mp4 with phase_annotations/videoNN-phase.txt and tool_annotations/videoNN-tool.txt.

    Also: a video without phase annotation (quarantined), a video shorter than its annotations
    (frames past its end quarantined), a phase name outside the seven ("Idle", masked) and a
    frame missing from the tool file (tools masked).

    Returns:
        `expected` {sample id: {"video", "frame", "phase", "tools" (list or None), "split"}},
        `quarantined` {source path: (count, message start)}, counts.
    """
    root = Path(root)
    expected: dict[str, dict[str, Any]] = {}
    for number, (n_frames, changes, missing_tools) in _VIDEOS.items():
        phases = _write(root, number, n_frames, n_frames, changes, missing_tools)
        for frame in range(0, n_frames, 25):
            expected[f"videos/video{number:02d}.mp4#{frame:06d}"] = {
                "video": f"video{number:02d}", "frame": frame, "phase": phases[frame],
                "tools": None if frame in missing_tools else _tools(number, frame),
                "split": "train" if number <= 40 else "test"}
    write_video_file(root / "videos" / f"video{NO_PHASES:02d}.mp4", _frames(5, 30), FPS)
    phases = _write(root, SHORT_VIDEO, 40, 75, ((0, "Preparation"),), ())
    for frame in (0, 25):
        expected[f"videos/video{SHORT_VIDEO:02d}.mp4#{frame:06d}"] = {
            "video": f"video{SHORT_VIDEO}", "frame": frame, "phase": phases[frame], "tools": _tools(SHORT_VIDEO, frame), "split": "test"}
    quarantined = {f"videos/video{NO_PHASES:02d}.mp4": (1, f"no phase annotation video{NO_PHASES:02d}-phase.txt"),
                   f"videos/video{SHORT_VIDEO:02d}.mp4": (1, "annotated frame 50 is past the end of the video (40 frames)")}
    n_bad = sum(n for n, _ in quarantined.values())
    counts = {"discovered": len(expected) + n_bad, "written": len(expected), "quarantined": n_bad, "excluded": 0}
    return {"expected": expected, "quarantined": quarantined, "counts": counts}
