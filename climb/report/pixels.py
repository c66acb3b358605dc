"""Display pictures of pixel data for the preview gallery: thumbnails, volume planes, video keyframes.

Every function returns PNG bytes of a uint8 picture meant for a browser, never for training: 16-bit
images are stretched for display, volumes are windowed, videos are sampled. Encoding goes through
cv2 with fixed settings, so the same sample gives the same bytes.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Sequence

import numpy as np

from climb.transforms.volume import resolve_window, window_to_uint8

PLANES = ("axial", "coronal", "sagittal")


def encode_png(picture: np.ndarray) -> bytes:
    """PNG of a uint8 [H, W] or BGR [H, W, 3] picture."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(picture), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise ValueError(f"cannot encode a picture of shape {picture.shape} as PNG")
    return buf.tobytes()


def to_display(image: np.ndarray) -> np.ndarray:
    """uint8 for display: 8-bit images as they are; 16-bit ones stretched over their 0.5-99.5 percentiles."""
    if image.dtype == np.uint8:
        return image
    lo, hi = np.percentile(image, [0.5, 99.5])
    scaled = (image.astype(np.float64) - lo) / max(float(hi - lo), 1e-12)
    return np.clip(np.round(scaled * 255.0), 0, 255).astype(np.uint8)


def fit(picture: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink (area interpolation) so the longer side is at most `max_side`; never enlarge."""
    import cv2

    h, w = picture.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return picture
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA)


def thumbnail(png: bytes, max_side: int = 320) -> tuple[bytes, tuple[int, ...]]:
    """A display thumbnail of a stored image member, and the stored image's shape.

    Args:
        png: the `image.png` (or `preview.png`) member: uint8/uint16, grayscale or colour.
        max_side: longest side of the thumbnail in pixels.
    """
    import cv2

    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("the stored PNG does not decode")
    return encode_png(fit(to_display(image), max_side)), tuple(image.shape)


def mid_planes(volume: Any) -> list[tuple[np.ndarray, float, float]]:
    """The three mid-slices of a [Z, Y, X] RAS volume with their (row, column) axes.

    Orientation as radiologists read them (the same as the stored preview.png): axial with
    anterior up, coronal and sagittal with superior up. Reading `volume[z]`, `volume[:, y]` and
    `volume[..., x]` from a Zarr array fetches only the chunks those planes cross.

    Returns:
        [(plane [rows, cols], row axis, column axis)] for axial, coronal, sagittal; axes index
        (z, y, x) = (0, 1, 2).
    """
    z, y, x = volume.shape
    return [
        (np.asarray(volume[z // 2])[::-1], 1, 2),
        (np.asarray(volume[:, y // 2, :])[::-1], 0, 2),
        (np.asarray(volume[:, :, x // 2])[::-1], 0, 1),
    ]


SATURATED = 0.9  # a window that clips more than this share of the shown voxels hides the anatomy


def _percentile_window(planes: Sequence[np.ndarray]) -> tuple[float, float]:
    lo, hi = np.percentile(np.concatenate([p.ravel() for p in planes]), [1, 99])
    return (lo + hi) / 2.0, max(float(hi - lo), 1e-6)


def volume_planes(
    volume: Any, spacing: Sequence[float], window: str | Sequence[float] | None = None, height: int = 240
) -> tuple[list[tuple[str, bytes]], str]:
    """Windowed mid-slices in three planes, each at square pixels and `height` rows.

    Args:
        volume: [Z, Y, X] array (numpy or Zarr) in the stored RAS layout.
        spacing: (z, y, x) voxel size in mm.
        window: a CT window name or (center, width) for HU volumes; None stretches the 1st-99th
            percentile of the three slices (MR and other unitless volumes). A window that clips
            nearly every voxel (an MR volume labelled HU, a wrong preset) falls back to the
            percentile stretch, and the returned description says so.
        height: rows of each picture.

    Returns:
        ([("axial", png), ("coronal", png), ("sagittal", png)], how the slices were windowed).
    """
    import cv2

    planes = mid_planes(volume)
    arrays = [p for p, _, _ in planes]
    if window is not None:
        win = resolve_window(window)
        center, width = win.center, win.width
        label = f"window {window if isinstance(window, str) else f'{center:g},{width:g}'}"
        values = np.concatenate([a.ravel() for a in arrays]).astype(np.float64)
        clipped = np.mean((values <= center - width / 2) | (values >= center + width / 2)) if values.size else 0.0
        if clipped > SATURATED:
            center, width = _percentile_window(arrays)
            label = f"1st-99th percentile stretch ({label} clips {clipped:.0%} of these voxels)"
    else:
        center, width = _percentile_window(arrays)
        label = "1st-99th percentile stretch"
    out = []
    for name, (plane, row_axis, col_axis) in zip(PLANES, planes):
        picture = window_to_uint8(plane, center, width)
        aspect = (plane.shape[1] * float(spacing[col_axis])) / (plane.shape[0] * float(spacing[row_axis]))
        cols = max(1, round(height * aspect))
        interp = cv2.INTER_AREA if cols < plane.shape[1] else cv2.INTER_LINEAR
        out.append((name, encode_png(cv2.resize(np.ascontiguousarray(picture), (cols, height), interpolation=interp))))
    return out, label


def video_frames(mp4: bytes) -> np.ndarray:
    """Every frame of a stored `video.mp4` member, BGR uint8 [T, H, W, 3] (cv2 reads files, not bytes)."""
    from climb.transforms.video import video_cv2

    cv2 = video_cv2()
    with tempfile.TemporaryDirectory(prefix="climb-preview-") as tmp:
        path = os.path.join(tmp, "video.mp4")
        with open(path, "wb") as f:
            f.write(mp4)
        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        frames = []
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                frames.append(frame)
        finally:
            cap.release()
    if not frames:
        raise ValueError("the stored video has no decodable frame")
    return np.stack(frames)


def keyframe_indices(num_frames: int, count: int) -> list[int]:
    """`count` frame indices spread evenly from the first frame to the last (fewer if the video is short)."""
    return sorted({int(round(i)) for i in np.linspace(0, num_frames - 1, min(count, num_frames))})


def keyframe_strip(mp4: bytes, count: int = 6, height: int = 160, gap: int = 4) -> tuple[bytes, list[int], int]:
    """A horizontal strip of evenly spaced frames of a stored video.

    Returns:
        (PNG of the strip, the frame indices shown, the number of frames decoded).
    """
    import cv2

    frames = video_frames(mp4)
    picks = keyframe_indices(len(frames), count)
    h, w = frames.shape[1:3]
    cols = max(1, round(w * height / h))
    tiles = [cv2.resize(frames[i], (cols, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_LINEAR) for i in picks]
    spacer = np.full((height, gap, 3), 255, np.uint8)
    parts = [p for tile in tiles for p in (tile, spacer)][:-1]
    return encode_png(np.concatenate(parts, axis=1)), picks, len(frames)
