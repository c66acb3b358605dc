"""Decode videos (OpenCV) and DICOM multi-frame cines (pydicom) into RGB frames, then standardize.

Options shared by the video sources:
    num_frames  sample this many frames evenly over the clip (default: all)
    fps         or resample to this frame rate (frames are never invented)
    size        [height, width] (or one number for a square) to resize to, aspect kept with padding
    color       "rgb" (default, [T, H, W, 3]) or "gray" ([T, H, W], BT.601 luma)
    max_pixels  width x height x frames above which decoding stops (pipelines/limits.py)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from climb.pipelines.limits import MAX_PIXELS, LimitExceeded, check_dicom_pixels
from climb.pipelines.sources import SourceError
from climb.transforms.video import bgr_to_rgb, resize_frames, sample_indices, set_color, to_uint8, video_cv2

VIDEO_DEFAULTS: dict[str, Any] = {"num_frames": None, "fps": None, "size": None, "color": "rgb"}


def decode_video(path: str, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, float]:
    """All frames of a video file as RGB uint8 [T, H, W, 3], and the container's frame rate (0 if unknown).

    Decoding stops with LimitExceeded once the frames read so far pass `max_pixels` (width x height
    x frames; pipelines/limits.py): a container's frame count can lie, so it is enforced as read.
    """
    cv2 = video_cv2()
    if not os.path.exists(path):
        raise SourceError("the video file is missing")
    # FFmpeg only: on a file it refuses, OpenCV's fallback AVI reader would print its own complaint
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise SourceError("OpenCV cannot open the video (unknown container or codec, or not a video)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        frames = []
        pixels = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            pixels += frame.shape[0] * frame.shape[1]
            if pixels > max_pixels:
                raise LimitExceeded(f"video frames pass max_pixels={max_pixels:,} after {len(frames)} frames")
            frames.append(frame)
    finally:
        cap.release()
    if not frames:
        raise SourceError("OpenCV opened the video but decoded no frames")
    return bgr_to_rgb(np.stack(frames)), fps


def dicom_frame_rate(ds: Any) -> float | None:
    """Frames per second from CineRate, RecommendedDisplayFrameRate or FrameTime (ms); None if absent."""
    for name in ("CineRate", "RecommendedDisplayFrameRate"):
        value = ds.get(name)
        if value:
            return float(value)
    frame_time = ds.get("FrameTime")
    if frame_time and float(frame_time) > 0:
        return 1000.0 / float(frame_time)
    return None


def decode_dicom_cine(path: str, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, float | None]:
    """A multi-frame DICOM (ultrasound cine, XA) as uint8 frames and its frame rate.

    Colour (RGB, YBR_* which pydicom converts to RGB, palette colour through its LUT) gives
    [T, H, W, 3]; 8-bit grayscale gives [T, H, W]; deeper grayscale is windowed per clip by
    transforms/image.py's DICOM display pipeline. Rows x Columns x NumberOfFrames above
    `max_pixels` is refused before decoding.
    """
    import pydicom
    from pydicom.pixels import apply_color_lut

    if not os.path.exists(path):
        raise SourceError("the DICOM file is missing")
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for non-DICOM input
        raise SourceError(f"not a readable DICOM file: {exc}") from exc
    if "PixelData" not in ds:
        raise SourceError("DICOM file has no pixel data")
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames < 2:
        raise SourceError(f"not a cine: {frames} frame")
    check_dicom_pixels(ds, {"max_pixels": max_pixels})
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - decoder errors vary by transfer syntax
        raise SourceError(f"pixel data cannot be decoded: {exc}") from exc
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric == "PALETTE COLOR":
        pixels = to_uint8(apply_color_lut(pixels, ds))
    elif pixels.dtype != np.uint8:
        from climb.transforms.image import dicom_to_image

        pixels = np.stack([dicom_to_image(f, ds, out_dtype="uint8")[0] for f in pixels])
    return pixels, dicom_frame_rate(ds)


def _size(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value), int(value)
    height, width = (int(v) for v in value)
    return height, width


def finish_video(frames: np.ndarray, fps: float, options: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """Sample, resize and set the colour mode of decoded frames; build meta["video"]."""
    num = options.get("num_frames")
    target = options.get("fps")
    indices, out_fps = sample_indices(
        len(frames), fps, count=None if num is None else int(num), target_fps=None if target is None else float(target)
    )
    video = frames[indices]
    size = _size(options.get("size"))
    if size is not None:
        video = resize_frames(video, size, pad=True)
    video = np.ascontiguousarray(set_color(video, options.get("color", "rgb")))
    meta = {
        "fps": float(out_fps),
        "num_frames": int(video.shape[0]),
        "source_fps": float(fps),
        "source_num_frames": int(len(frames)),
    }
    return video, meta
