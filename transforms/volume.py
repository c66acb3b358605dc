"""Pure volume transforms: CT windows, HU handling, previews. No file I/O."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def window_to_uint8(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Map [center - width/2, center + width/2] linearly onto 0..255, clipping outside."""
    lo = center - width / 2.0
    scaled = (values.astype(np.float64) - lo) / max(float(width), 1e-12)
    return np.clip(np.round(scaled * 255.0), 0, 255).astype(np.uint8)


def volume_preview(volume: np.ndarray, spacing: Sequence[float], window: Sequence[float] | None = None) -> np.ndarray:
    """Mid-slices of a [Z, Y, X] volume in three planes, side by side, as one uint8 image.

    Each plane is resampled to square pixels using the voxel spacing so anatomy keeps its aspect.

    Args:
        volume: [Z, Y, X] array.
        spacing: (z, y, x) voxel size in mm.
        window: (center, width); default: the 1st-99th percentile range of the volume.

    Returns:
        uint8 [H, W] image: axial | coronal | sagittal, each padded to the tallest.
    """
    import cv2

    vol = np.asarray(volume)
    if window is None:
        lo, hi = np.percentile(vol, [1, 99]) if vol.size else (0.0, 1.0)
        window = ((lo + hi) / 2.0, max(hi - lo, 1e-6))
    z, y, x = vol.shape
    sz, sy, sx = (float(s) for s in spacing)
    planes = [
        (vol[z // 2], sy, sx),
        (vol[:, y // 2, :][::-1], sz, sx),
        (vol[:, :, x // 2][::-1], sz, sy),
    ]
    images = []
    for plane, row_mm, col_mm in planes:
        img = window_to_uint8(plane, window[0], window[1])
        step = min(row_mm, col_mm)
        rows = max(1, int(round(img.shape[0] * row_mm / step)))
        cols = max(1, int(round(img.shape[1] * col_mm / step)))
        images.append(cv2.resize(img, (cols, rows), interpolation=cv2.INTER_LINEAR) if (rows, cols) != img.shape else img)
    height = max(im.shape[0] for im in images)
    padded = [np.pad(im, ((0, height - im.shape[0]), (0, 0))) for im in images]
    return np.ascontiguousarray(np.concatenate(padded, axis=1))
