"""Pure volume transforms: CT windows, HU handling, resampling, RAS reorientation, DICOM series
geometry and a three-plane preview. No file I/O.

Conventions, shared by every 3D source:
    * A stored volume is a [Z, Y, X] array whose voxel axes point to patient Superior (Z), Anterior
      (Y) and Right (X): the array is the transpose of nibabel's closest-canonical ("RAS+") data.
      `meta["volume"]["orientation"] = "RAS"` names this, and `spacing` is [z, y, x] in mm.
    * Windows are (center, width) in HU, the order DICOM's WindowCenter/WindowWidth use; the named
      CT windows (lung, mediastinum, abdomen, and CLIMB's W700/L80) are transforms/image.py's.
    * DICOM patient coordinates are LPS; NIfTI/nibabel affines are RAS. `LPS_TO_RAS` converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from climb.transforms.image import CT_WINDOWS, HU_RANGE

HU_MIN, HU_MAX = (int(v) for v in HU_RANGE)  # scanner padding (-2000, -3024) falls below HU_MIN
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_RAS = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])  # nibabel orientation of RAS+ axes


class Window(NamedTuple):
    """A display window in HU."""

    center: float
    width: float


class GeometryError(ValueError):
    """A DICOM series whose slices do not form one evenly spaced volume; the message says why."""


def resolve_window(window: str | Sequence[float]) -> Window:
    """A Window from a name in CT_WINDOWS, a (center, width) pair, or "center,width" text."""
    if isinstance(window, str) and "," in window:
        window = window.split(",")
    if isinstance(window, str):
        key = window.strip().lower()
        if key not in CT_WINDOWS:
            raise KeyError(f"unknown CT window {window!r}; known: {', '.join(sorted(CT_WINDOWS))}")
        return Window(*CT_WINDOWS[key])
    center, width = (float(v) for v in window)
    if not width > 0:
        raise ValueError(f"window width must be positive, got {width}")
    return Window(center, width)


def window_to_uint8(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Map [center - width/2, center + width/2] linearly onto 0..255 (rounded), clipping outside."""
    lo = center - width / 2.0
    scaled = (values.astype(np.float64) - lo) / max(float(width), 1e-12)
    return np.clip(np.round(scaled * 255.0), 0, 255).astype(np.uint8)


def apply_window(values: np.ndarray, window: str | Sequence[float]) -> np.ndarray:
    """Window HU values for display: a named CT window or (center, width) -> uint8."""
    w = resolve_window(window)
    return window_to_uint8(values, w.center, w.width)


def clip_hu(volume: np.ndarray, lo: float = HU_MIN, hi: float = HU_MAX) -> np.ndarray:
    """Clip HU values to [lo, hi], keeping the dtype (scanner padding values become `lo`)."""
    return np.clip(volume, lo, hi).astype(volume.dtype, copy=False)


def to_hu(pixels: np.ndarray, slope: float = 1.0, intercept: float = 0.0) -> np.ndarray:
    """Stored pixel values -> int16 HU: value * slope + intercept, rounded, saturated to int16.

    Computed in float32 so a slice-at-a-time caller never holds a float64 copy of a volume.
    """
    hu = np.rint(pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept))
    return np.clip(hu, np.iinfo(np.int16).min, np.iinfo(np.int16).max).astype(np.int16)


def resample(
    volume: np.ndarray,
    spacing: Sequence[float],
    target_spacing: Sequence[float] | None,
    order: int = 1,
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Resample a [Z, Y, X] volume to a target voxel size with scipy.ndimage.zoom.

    The new shape is round(n * spacing / target) per axis (at least 1). Zoom runs with
    grid_mode=True, so the volume's extent (n * spacing) is preserved and the returned spacing is
    exact (extent / new n), which can differ from the target by the rounding of n. order=1 is
    trilinear and needs no spline prefilter; order>=2 prefilters in float64, 4x the memory of an
    int16 volume; order=0 is nearest-neighbour (for label maps). Integer volumes are interpolated
    straight into their own dtype (scipy rounds), so no float copy of the volume is made.

    Args:
        volume: [Z, Y, X] array.
        spacing: (z, y, x) voxel size in mm.
        target_spacing: (z, y, x) in mm, or None to keep the native spacing (volume returned as is).
        order: spline order, 0-5.

    Returns:
        (resampled volume, its exact (z, y, x) spacing).
    """
    from scipy import ndimage

    spacing = tuple(float(s) for s in spacing)
    if target_spacing is None:
        return volume, spacing  # type: ignore[return-value]
    target = tuple(float(t) for t in target_spacing)
    if len(target) != 3 or not all(t > 0 for t in target):
        raise ValueError(f"target spacing must be 3 positive numbers, got {target_spacing!r}")
    shape = tuple(max(1, int(round(n * s / t))) for n, s, t in zip(volume.shape, spacing, target))
    if shape == volume.shape:
        return volume, spacing  # type: ignore[return-value]
    factors = [new / old for new, old in zip(shape, volume.shape)]
    out = ndimage.zoom(volume, factors, output=volume.dtype, order=order, mode="nearest", grid_mode=True)
    exact = tuple(s * old / new for s, old, new in zip(spacing, volume.shape, out.shape))
    return out, exact  # type: ignore[return-value]


def resampled_affine(affine: np.ndarray, old_shape_ijk: Sequence[int], new_shape_ijk: Sequence[int]) -> np.ndarray:
    """The voxel-to-world affine after a grid_mode zoom from old to new shape (same voxel axes).

    With grid_mode the voxel edges stay put: new voxel 0's center sits at old voxel coordinate
    (f - 1) / 2 where f = old/new is the per-axis voxel-size factor.
    """
    f = np.asarray(old_shape_ijk, float) / np.asarray(new_shape_ijk, float)
    scale = np.eye(4)
    scale[:3, :3] = np.diag(f)
    scale[:3, 3] = (f - 1.0) / 2.0
    return np.asarray(affine, float) @ scale


@dataclass(frozen=True)
class RasLayout:
    """How a source volume indexed [i, j, k] (nibabel order) maps onto the stored [Z, Y, X] array.

    Built from the voxel-to-RAS affine alone, before any pixel is read, so a reader can allocate
    the final array once and write each source slice straight into it through `source_view`.

    Attributes:
        ornt: nibabel orientation of the source axes (`io_orientation` of its affine).
        source_shape: (i, j, k) shape of the source data.
        shape: (Z, Y, X) shape of the stored volume.
        spacing: (z, y, x) voxel size in mm.
        affine: voxel-to-RAS affine of the stored volume indexed (x, y, z) = stored[z, y, x].
    """

    ornt: np.ndarray
    source_shape: tuple[int, int, int]
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    affine: np.ndarray

    def source_view(self, out: np.ndarray) -> np.ndarray:
        """A view of the stored [Z, Y, X] array indexed like the source [i, j, k] (writes go through)."""
        from nibabel.orientations import apply_orientation, ornt_transform

        if out.shape != self.shape:
            raise ValueError(f"output shape {out.shape} is not the layout's {self.shape}")
        return apply_orientation(out.transpose(2, 1, 0), ornt_transform(_RAS, self.ornt))


def ras_layout(source_shape: Sequence[int], affine: np.ndarray) -> RasLayout:
    """The RAS layout of a 3D source with a voxel-to-RAS affine (nibabel's as_closest_canonical)."""
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

    shape_ijk = tuple(int(n) for n in source_shape)
    if len(shape_ijk) != 3:
        raise ValueError(f"expected a 3D volume, got shape {shape_ijk}")
    affine = np.asarray(affine, float)
    ornt = io_orientation(affine)
    to_ras = ornt_transform(ornt, _RAS)
    ras_shape = apply_orientation(np.empty(shape_ijk, dtype=np.bool_), to_ras).shape
    ras_affine = affine @ inv_ornt_aff(to_ras, shape_ijk)
    zooms = np.sqrt((ras_affine[:3, :3] ** 2).sum(axis=0))
    return RasLayout(
        ornt=ornt,
        source_shape=shape_ijk,
        shape=(ras_shape[2], ras_shape[1], ras_shape[0]),
        spacing=(float(zooms[2]), float(zooms[1]), float(zooms[0])),
        affine=ras_affine,
    )


def reorient_to_ras(data_ijk: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, RasLayout]:
    """Reorient a 3D [i, j, k] array with a voxel-to-RAS affine to the stored [Z, Y, X] RAS layout.

    Returns:
        (contiguous [Z, Y, X] array of the same dtype, its layout with spacing and affine).
    """
    layout = ras_layout(data_ijk.shape, affine)
    out = np.empty(layout.shape, dtype=data_ijk.dtype)
    layout.source_view(out)[...] = data_ijk
    return out, layout


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    """The unit slice normal of a DICOM ImageOrientationPatient (row cosines x column cosines)."""
    iop = np.asarray(orientation, float)
    if iop.shape != (6,):
        raise GeometryError(f"ImageOrientationPatient needs 6 values, got {list(orientation)}")
    normal = np.cross(iop[:3], iop[3:])
    norm = np.linalg.norm(normal)
    if not norm > 0.5:
        raise GeometryError(f"ImageOrientationPatient rows are parallel or not unit vectors: {list(orientation)}")
    return normal / norm


@dataclass(frozen=True)
class SeriesGeometry:
    """Where the slices of a DICOM series go.

    Attributes:
        order: indices into the input slices, from lowest to highest position along the normal.
        spacing: the slice spacing in mm (mean gap of the sorted positions).
        affine: voxel-to-RAS affine for data indexed [column, row, sorted slice].
    """

    order: np.ndarray
    spacing: float
    affine: np.ndarray


def series_geometry(
    positions: Sequence[Sequence[float]],
    orientations: Sequence[Sequence[float]],
    pixel_spacing: Sequence[float],
    tolerance: float = 0.02,
) -> SeriesGeometry:
    """Sort DICOM slices by ImagePositionPatient projected on the slice normal and check the stack.

    File names and InstanceNumber are never used: they are often shuffled or restarted. The
    checks, in order, each raise GeometryError with a reason for the quarantine log:
    different orientations; positions not stacked along the normal (gantry tilt / mixed
    stacks); duplicate positions; missing slices (a gap close to a whole multiple >= 2 of the
    typical gap); any other gap off the typical (median) gap by more than `tolerance` of it.

    Args:
        positions: per slice ImagePositionPatient (x, y, z) in LPS mm.
        orientations: per slice ImageOrientationPatient (6 direction cosines).
        pixel_spacing: PixelSpacing (row spacing, column spacing) in mm.
        tolerance: allowed relative deviation of any gap from the median gap.
    """
    pos = np.asarray(positions, float)
    iop = np.asarray(orientations, float)
    n = len(pos)
    if n < 2:
        raise GeometryError(f"a volume needs at least 2 slices, got {n}")
    if pos.shape != (n, 3) or iop.shape != (n, 6):
        raise GeometryError("every slice needs ImagePositionPatient (3 values) and ImageOrientationPatient (6 values)")
    if np.abs(iop - iop[0]).max() > 1e-4:
        raise GeometryError("slices have different ImageOrientationPatient (more than one stack in the series)")
    normal = slice_normal(iop[0])
    offsets = pos @ normal
    order = np.argsort(offsets, kind="stable")
    offsets = offsets[order]
    in_plane = (pos[order] - pos[order[0]]) - np.outer(offsets - offsets[0], normal)
    drift = float(np.linalg.norm(in_plane, axis=1).max())
    row_mm, col_mm = (float(v) for v in pixel_spacing)
    if drift > 0.5 * min(row_mm, col_mm):
        raise GeometryError(f"slice positions drift {drift:.3f} mm off the slice normal (gantry tilt or mixed stacks)")
    gaps = np.diff(offsets)
    typical = float(np.median(gaps))
    duplicates = int((gaps <= 1e-3 * max(typical, 1.0)).sum())
    if duplicates:
        raise GeometryError(f"{duplicates} duplicate slice position(s) along the normal")
    ratio = gaps / typical
    multiples = np.rint(ratio)
    missing = (multiples >= 2) & (np.abs(ratio - multiples) <= tolerance * multiples)
    if missing.any():
        lost = int((multiples[missing] - 1).sum())
        where = ", ".join(f"{offsets[i]:.2f}-{offsets[i + 1]:.2f} mm" for i in np.flatnonzero(missing)[:3])
        raise GeometryError(f"{lost} missing slice(s): gap(s) at {where} are whole multiples of the {typical:.3f} mm spacing")
    off = np.abs(ratio - 1.0)
    if off.max() > tolerance:
        raise GeometryError(
            f"uneven slice spacing: gaps from {gaps.min():.3f} to {gaps.max():.3f} mm around {typical:.3f} mm "
            f"(tolerance {tolerance:.0%})"
        )
    spacing = float((offsets[-1] - offsets[0]) / (n - 1))
    lps = np.eye(4)
    lps[:3, 0] = iop[0, :3] * col_mm
    lps[:3, 1] = iop[0, 3:] * row_mm
    lps[:3, 2] = normal * spacing
    lps[:3, 3] = pos[order[0]]
    return SeriesGeometry(order=order, spacing=spacing, affine=LPS_TO_RAS @ lps)


def _preview_window(planes: Sequence[np.ndarray], window: str | Sequence[float] | None) -> Window:
    if window is not None:
        return resolve_window(window)
    values = np.concatenate([p.ravel() for p in planes])
    lo, hi = np.percentile(values, [1, 99]) if values.size else (0.0, 1.0)
    return Window((lo + hi) / 2.0, max(hi - lo, 1e-6))


def volume_preview(
    volume: np.ndarray,
    spacing: Sequence[float],
    window: str | Sequence[float] | None = None,
    height: int = 160,
) -> np.ndarray:
    """Mid-slices of a stored [Z, Y, X] RAS volume in three planes, side by side, as one uint8 image.

    Panels: axial (anterior up, patient right on the image right), coronal and sagittal (superior
    up). Each is resampled to square pixels using the voxel spacing so anatomy keeps its aspect,
    then scaled to `height` rows.

    Args:
        volume: [Z, Y, X] array in the stored RAS layout.
        spacing: (z, y, x) voxel size in mm.
        window: a CT_WINDOWS name or (center, width); default: the 1st-99th percentile range of
            the three slices (suits MR and other unitless volumes).
        height: rows of the output image.

    Returns:
        uint8 [height, W] image: axial | coronal | sagittal.
    """
    import cv2

    vol = np.asarray(volume)
    z, y, x = vol.shape
    sz, sy, sx = (float(s) for s in spacing)
    planes = [
        (vol[z // 2][::-1], sy, sx),
        (vol[:, y // 2, :][::-1], sz, sx),
        (vol[:, :, x // 2][::-1], sz, sy),
    ]
    win = _preview_window([p for p, _, _ in planes], window)
    panels = []
    for plane, row_mm, col_mm in planes:
        img = window_to_uint8(plane, win.center, win.width)
        aspect = (img.shape[1] * col_mm) / (img.shape[0] * row_mm)
        cols = max(1, int(round(height * aspect)))
        interp = cv2.INTER_AREA if cols < img.shape[1] else cv2.INTER_LINEAR
        panels.append(cv2.resize(np.ascontiguousarray(img), (cols, height), interpolation=interp))
    return np.ascontiguousarray(np.concatenate(panels, axis=1))
