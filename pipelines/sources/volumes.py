"""What every 3D source does once its reader has a [Z, Y, X] RAS volume: clip, resample, describe.

Readers (NIfTI, MetaImage, DICOM series) allocate the final array once through a `RasLayout` and
fill it slice by slice, so a CT never exists twice in memory as float; this module applies the
config-driven steps that are the same for every source.

Options shared by the 3D sources:
    target_spacing  [z, y, x] mm to resample to, or null to keep the native spacing (default)
    resample_order  scipy.ndimage.zoom spline order (default 1, trilinear; see transforms/volume.resample)
    hu_clip         [low, high] HU for CT (default [-1024, 3071]); null keeps the scanner's values
    preview_window  CT window name or [center, width] for the preview image
"""

from __future__ import annotations

from typing import Any

import numpy as np

from climb.transforms.volume import HU_MAX, HU_MIN, RasLayout, resample, resampled_affine

VOLUME_DEFAULTS: dict[str, Any] = {
    "target_spacing": None,
    "resample_order": 1,
    "hu_clip": [HU_MIN, HU_MAX],
}


def finish_volume(volume: np.ndarray, layout: RasLayout, ct: bool, options: dict[str, Any], window: Any = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Clip (CT), resample by config, and build meta["volume"].

    Args:
        volume: [Z, Y, X] array in the layout's RAS orientation (int16 HU for CT, float32 else).
        layout: where it came from (spacing, affine).
        ct: whether values are HU (clipped, units "HU") or unitless scanner values.
        options: the source options (see module docstring).
        window: the source's default preview window (a CT window name), overridden by
            options["preview_window"].

    Returns:
        (volume, meta["volume"]) with spacing [z, y, x] mm, orientation "RAS", units, the
        voxel-to-RAS affine of the stored array indexed (x, y, z), and the native spacing.
    """
    clip = options.get("hu_clip", VOLUME_DEFAULTS["hu_clip"])
    if ct and clip is not None:
        lo, hi = (int(v) for v in clip)
        np.clip(volume, lo, hi, out=volume)
    native = tuple(float(s) for s in layout.spacing)
    affine = layout.affine
    target = options.get("target_spacing")
    if target is not None:
        old_shape = volume.shape
        volume, _ = resample(volume, native, target, order=int(options.get("resample_order", 1)))
        affine = resampled_affine(affine, old_shape[::-1], volume.shape[::-1])
    spacing = [float(v) for v in np.sqrt((affine[:3, :3] ** 2).sum(axis=0))[::-1]]
    meta = {
        "spacing": spacing,
        "native_spacing": list(native),
        "orientation": "RAS",
        "units": "HU" if ct else "scanner",
        "affine": [[float(v) for v in row] for row in affine],
    }
    preview = options.get("preview_window", window)
    if preview is not None:
        meta["window"] = preview
    return volume, meta
