"""Pure video transforms: frame sampling, resizing, colour handling. No file I/O.

Frames are uint8 [T, H, W] (grayscale) or [T, H, W, 3] (RGB order), the schema's `video` field.
Decoders hand frames over in their own order (OpenCV: BGR); `bgr_to_rgb` is the one place that
order is fixed, and `video_cv2` the one place OpenCV is set up for the code that reads and writes
video files.
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np

FFMPEG_QUIET = "-8"  # AV_LOG_QUIET


def video_cv2() -> ModuleType:
    """cv2, with FFmpeg's and OpenCV's own logging kept to errors climb does not report itself.

    FFmpeg (inside OpenCV) prints complaints about a damaged container straight to stderr, and
    OpenCV warns when its FFmpeg backend cannot open a file. climb already quarantines such a
    file with the reason (or raises), so both would only repeat it as unattributed noise in the
    middle of progress bars. OpenCV reads OPENCV_FFMPEG_LOGLEVEL once, when it first loads FFmpeg
    in a process (writing a video loads it too), so every climb path that opens or writes a video
    file gets cv2 from here. A level the user set (OPENCV_FFMPEG_LOGLEVEL, OPENCV_LOG_LEVEL) wins.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_QUIET)
    import cv2

    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    return cv2

COLOR_MODES = ("rgb", "gray")


def sample_indices(num_frames: int, fps: float, *, count: int | None = None, target_fps: float | None = None) -> tuple[np.ndarray, float]:
    """Which source frames to keep, and the frame rate of the result.

    * count: `count` frames evenly spread over the whole clip (first and last included); a clip
      shorter than `count` repeats frames (nearest in time), so every sample has the same length
      and the returned rate says how fast to play them to span the clip's duration.
    * target_fps: the frame shown at each tick of the target clock (t = k / target_fps), i.e.
      frame floor(t * fps); a target above the source rate keeps every frame at the source rate
      (frames are never invented).
    * neither: every frame.

    Args:
        num_frames: frames in the source clip (> 0).
        fps: source frame rate (> 0).
        count: fixed number of output frames.
        target_fps: output frame rate.

    Returns:
        (int64 indices into the source frames, output fps).
    """
    if num_frames <= 0:
        raise ValueError(f"a clip needs at least one frame, got {num_frames}")
    if not fps > 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    if count is not None and target_fps is not None:
        raise ValueError("give either a frame count or a target fps, not both")
    if count is not None:
        if count <= 0:
            raise ValueError(f"frame count must be positive, got {count}")
        indices = np.rint(np.linspace(0, num_frames - 1, count)).astype(np.int64)
        duration = num_frames / fps
        return indices, count / duration
    if target_fps is not None:
        if not target_fps > 0:
            raise ValueError(f"target fps must be positive, got {target_fps}")
        if target_fps >= fps:
            return np.arange(num_frames, dtype=np.int64), float(fps)
        ticks = int(np.floor(num_frames * target_fps / fps - 1e-9)) + 1
        indices = np.floor(np.arange(ticks) * (fps / target_fps) + 1e-9).astype(np.int64)
        return indices[indices < num_frames], float(target_fps)
    return np.arange(num_frames, dtype=np.int64), float(fps)


def bgr_to_rgb(frames: np.ndarray) -> np.ndarray:
    """Swap the channel order of [..., 3] frames (OpenCV decodes BGR)."""
    return np.ascontiguousarray(frames[..., ::-1])


def to_gray(frames: np.ndarray) -> np.ndarray:
    """RGB [T, H, W, 3] -> luma [T, H, W] with ITU-R BT.601 weights (OpenCV's RGB2GRAY); gray passes."""
    if frames.ndim == 3:
        return frames
    import cv2

    return np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames])


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """Gray [T, H, W] -> [T, H, W, 3] with equal channels; RGB passes."""
    if frames.ndim == 4:
        return frames
    return np.repeat(frames[..., None], 3, axis=-1)


def set_color(frames: np.ndarray, mode: str) -> np.ndarray:
    """Frames in the requested colour mode: "rgb" ([T, H, W, 3]) or "gray" ([T, H, W])."""
    if mode == "rgb":
        return to_rgb(frames)
    if mode == "gray":
        return to_gray(frames)
    raise ValueError(f"unknown colour mode {mode!r}; expected one of {COLOR_MODES}")


def resize_frames(frames: np.ndarray, size: tuple[int, int], pad: bool = True) -> np.ndarray:
    """Resize every frame to (height, width).

    With pad=True the aspect ratio is kept: the frame is scaled to fit inside (height, width) and
    centred on a zero (black) canvas, the same policy CLIMB uses for 2D images. With pad=False
    the frame is stretched. Downscaling uses area averaging, upscaling bilinear interpolation.
    """
    import cv2

    height, width = (int(v) for v in size)
    if height <= 0 or width <= 0:
        raise ValueError(f"size must be positive, got {size}")
    t, h, w = frames.shape[:3]
    if pad:
        scale = min(height / h, width / w)
        new_h, new_w = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    else:
        new_h, new_w = height, width
    interp = cv2.INTER_AREA if new_h * new_w < h * w else cv2.INTER_LINEAR
    out = np.zeros((t, height, width) + frames.shape[3:], dtype=frames.dtype)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    for i in range(t):
        out[i, top:top + new_h, left:left + new_w] = cv2.resize(
            np.ascontiguousarray(frames[i]), (new_w, new_h), interpolation=interp
        ).reshape((new_h, new_w) + frames.shape[3:])
    return out


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Frames with more than 8 bits (e.g. 16-bit palette colour) scaled to uint8 by their dtype's range."""
    if frames.dtype == np.uint8:
        return frames
    if frames.dtype.kind != "u":
        raise ValueError(f"expected unsigned integer frames, got {frames.dtype}")
    shift = 8 * (frames.dtype.itemsize - 1)
    return (frames >> shift).astype(np.uint8)
