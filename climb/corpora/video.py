"""Ultrasound video corpora: EchoNet-Dynamic and a generic clip folder with DICOM cines.

Frames come from pydicom-data's real ultrasound cine (color3d_jpeg_baseline.dcm, 120 JPEG frames
of 640x480 at 30 fps), written to AVI/MP4 with OpenCV; the generic folder also holds the first
frames of that cine (its JPEG fragments copied, not re-encoded) and pydicom's 2-frame
palette-colour ultrasound as DICOM files. Each writer adds the awkward cases a
real release has and returns what a correct conversion must find.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from climb.corpora.imaging3d import pydicom_file

CINE = "color3d_jpeg_baseline.dcm"
PALETTE_CINE = "OBXXXX1A_2frame.dcm"
ECHONET_COLUMNS = ("FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split")


def cine_frames(start: int, count: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """`count` RGB frames [T, H, W, 3] of the real ultrasound cine from frame `start`, optionally resized."""
    import cv2
    from pydicom.pixels import pixel_array

    path = pydicom_file(CINE)
    frames = []
    for i in range(start, start + count):
        frame = pixel_array(path, index=i % 120)
        if size is not None:
            frame = cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        frames.append(frame)
    return np.stack(frames)


def write_short_cine(path: str | os.PathLike, n_frames: int) -> Path:
    """The real JPEG cine cut to its first `n_frames` frames: same tags, same compressed frames."""
    import pydicom
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(pydicom_file(CINE))
    total = int(ds.NumberOfFrames)
    frames = [frame for _, frame in zip(range(n_frames), generate_frames(ds.PixelData, number_of_frames=total))]
    ds.PixelData = encapsulate(frames)
    ds.NumberOfFrames = len(frames)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path)
    return path


def write_video_file(path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """Write RGB frames with OpenCV: MJPG in .avi (EchoNet's container), mp4v in .mp4."""
    from climb.transforms.video import video_cv2

    cv2 = video_cv2()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = "MJPG" if path.suffix.lower() == ".avi" else "mp4v"
    t, h, w = frames.shape[:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (w, h), True)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} video to {path}")
    try:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
    finally:
        writer.release()
    return path


def write_echonet_corpus(root: str | os.PathLike, n_frames: int = 12) -> dict[str, Any]:
    """Write an EchoNet-Dynamic layout: ``Videos/<FileName>.avi`` (112x112, 50 fps) + ``FileList.csv``.

    Four good videos (EF 35.2 / 45.0 / 62.1 / blank; Split TRAIN, VAL, TEST, TRAIN), a listed AVI
    OpenCV cannot open, a listed FileName without a video (both quarantined) and a video the sheet
    does not list (excluded). FileName is written without ".avi", as in the release.

    Returns:
        counts, `labels` {FileName: {task: value}}, `splits` {FileName: split} and `frames`
        {FileName: RGB frames as written} of the good videos.
    """
    root = Path(root)
    videos = root / "Videos"
    videos.mkdir(parents=True, exist_ok=True)
    good = {
        "0X1A2B3C4D5E6F7081": (35.2, 60.1, 92.8, "TRAIN"),
        "0X2B3C4D5E6F708192": (45.0, 52.3, 95.1, "VAL"),
        "0X3C4D5E6F708192A3": (62.1, 31.0, 81.8, "TEST"),
        "0X4D5E6F708192A3B4": (None, 40.0, 99.0, "TRAIN"),
    }
    frames = {}
    rows = []
    for i, (name, (ef, esv, edv, split)) in enumerate(good.items()):
        frames[name] = cine_frames(10 * i, n_frames, (112, 112))
        write_video_file(videos / f"{name}.avi", frames[name], 50.0)
        rows.append([name, "" if ef is None else ef, esv, edv, 112, 112, 50, n_frames, split])
    (videos / "0X5E6F708192A3B4C5.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(range(256)) * 8)
    rows.append(["0X5E6F708192A3B4C5", 55.0, 40.0, 90.0, 112, 112, 50, n_frames, "TRAIN"])
    rows.append(["0X6F708192A3B4C5D6", 50.0, 40.0, 80.0, 112, 112, 50, n_frames, "TEST"])
    write_video_file(videos / "0X708192A3B4C5D6E7.avi", cine_frames(50, 4, (112, 112)), 50.0)
    with open(root / "FileList.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(ECHONET_COLUMNS)
        writer.writerows(rows)
    category = {35.2: 0, 45.0: 1, 62.1: 2, None: None}
    return {
        "counts": {"discovered": 7, "written": 4, "quarantined": 2, "excluded": 1},
        "labels": {
            name: {"lvef": ef, "lvef_category": category[ef], "lv_esv": esv, "lv_edv": edv}
            for name, (ef, esv, edv, _) in good.items()
        },
        "splits": {name: split.lower() for name, (_, _, _, split) in good.items()},
        "frames": frames,
    }


def write_video_corpus(root: str | os.PathLike, n_frames: int = 10) -> dict[str, Any]:
    """Write a generic ultrasound folder: ``clips/*.mp4|avi``, ``cine/*.dcm`` and ``labels.csv``.

    labels.csv (path, label, patient): two MP4 and one AVI clip of two patients, the real JPEG cine
    cut to 12 frames, the 2-frame palette-colour cine, a clip with a label outside the task (masked), a listed
    file that is not a video and a listed file that does not exist (quarantined), plus a clip the
    sheet does not list (excluded).

    Returns:
        counts, `labels` {path: lung_us_finding value} and `subjects` {path: patient} of the good files.
    """
    root = Path(root)
    clips = {
        "clips/p01_left.mp4": ("covid", "p01", 0),
        "clips/p01_right.avi": ("Pneumonia", "p01", 20),
        "clips/p02_apex.mp4": ("normal", "p02", 40),
        "clips/p03_base.mp4": ("other", "p03", 60),
    }
    for rel, (_, _, start) in clips.items():
        write_video_file(root / rel, cine_frames(start, n_frames, (120, 160)), 30.0)
    write_short_cine(root / "cine" / "p04_cine.dcm", 12)
    shutil.copy(pydicom_file(PALETTE_CINE), root / "cine" / "p05_palette.dcm")
    (root / "clips" / "p06_broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    write_video_file(root / "clips" / "p07_unlisted.mp4", cine_frames(80, 4, (120, 160)), 30.0)
    labels = {
        **{rel: (label, patient) for rel, (label, patient, _) in clips.items()},
        "cine/p04_cine.dcm": ("covid", "p04"),
        "cine/p05_palette.dcm": ("normal", "p05"),
        "clips/p06_broken.mp4": ("normal", "p06"),
        "clips/p08_missing.mp4": ("covid", "p08"),
    }
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "patient"])
        writer.writerows([rel, label, patient] for rel, (label, patient) in labels.items())
    index = {"covid": 0, "pneumonia": 1, "normal": 2}
    good = [r for r in labels if r not in ("clips/p06_broken.mp4", "clips/p08_missing.mp4")]
    return {
        "counts": {"discovered": 9, "written": 6, "quarantined": 2, "excluded": 1},
        "labels": {rel: index.get(labels[rel][0].lower()) for rel in good},
        "subjects": {rel: labels[rel][1] for rel in good},
    }
