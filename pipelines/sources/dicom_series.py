"""Read a DICOM series (one file per slice) into a [Z, Y, X] RAS volume, one slice at a time.

Slices are ordered by ImagePositionPatient projected on the slice normal
(transforms/volume.series_geometry), never by file name or InstanceNumber. Headers are read first
without pixel data, the geometry is checked (duplicates, gaps, uneven spacing, mixed stacks), the
final array is allocated once and every slice's pixels are decoded straight into it: peak memory
is one volume plus one slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from climb.pipelines.limits import MAX_VOXELS, LimitExceeded, check_dicom_pixels
from climb.pipelines.sources import SourceError
from climb.storage import open_raw
from climb.transforms.volume import GeometryError, RasLayout, ras_layout, series_geometry, to_hu

HEADER_TAGS = [
    "SeriesInstanceUID", "SOPInstanceUID", "Modality", "ImagePositionPatient", "ImageOrientationPatient",
    "PixelSpacing", "Rows", "Columns",
]


@dataclass(frozen=True)
class SliceHeader:
    url: str
    series: str
    sop: str
    modality: str
    position: tuple[float, ...]
    orientation: tuple[float, ...]
    pixel_spacing: tuple[float, ...]
    rows: int
    columns: int


def _name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def read_header(url: str, storage_options: dict[str, Any] | None = None) -> SliceHeader:
    """The geometry tags of one slice, without decoding pixels."""
    import pydicom

    try:
        with open_raw(url, storage_options) as f:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=HEADER_TAGS)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for non-DICOM input
        raise SourceError(f"{_name(url)}: not a readable DICOM file: {exc}") from exc
    missing = [t for t in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns") if t not in ds]
    if missing:
        raise SourceError(f"{_name(url)}: no {', '.join(missing)}; cannot place the slice in a volume")
    return SliceHeader(
        url=url,
        series=str(ds.get("SeriesInstanceUID", "")),
        sop=str(ds.get("SOPInstanceUID", "")),
        modality=str(ds.get("Modality", "")),
        position=tuple(float(v) for v in ds.ImagePositionPatient),
        orientation=tuple(float(v) for v in ds.ImageOrientationPatient),
        pixel_spacing=tuple(float(v) for v in ds.PixelSpacing),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
    )


def _check_stack(headers: Sequence[SliceHeader]) -> None:
    first = headers[0]
    if len({h.series for h in headers}) > 1:
        raise SourceError(f"files belong to {len({h.series for h in headers})} different SeriesInstanceUIDs")
    sops = [h.sop for h in headers]
    if len(set(sops)) != len(sops):
        raise SourceError(f"{len(sops) - len(set(sops))} duplicate slice file(s): repeated SOPInstanceUID")
    for h in headers:
        if (h.rows, h.columns) != (first.rows, first.columns):
            raise SourceError(f"{_name(h.url)}: {h.rows}x{h.columns} pixels, other slices {first.rows}x{first.columns}")
        if not np.allclose(h.pixel_spacing, first.pixel_spacing, rtol=1e-4):
            raise SourceError(f"{_name(h.url)}: PixelSpacing {list(h.pixel_spacing)} differs from {list(first.pixel_spacing)}")


def read_series(
    urls: Sequence[str],
    storage_options: dict[str, Any] | None = None,
    tolerance: float = 0.02,
    max_voxels: int = MAX_VOXELS,
) -> tuple[np.ndarray, RasLayout, str]:
    """Decode a series into the stored [Z, Y, X] RAS layout.

    CT becomes int16 HU (RescaleSlope/Intercept applied per slice, rounded); other modalities
    float32 with the same rescale.

    Returns:
        (volume, layout, modality).

    Raises:
        SourceError: unreadable files, mixed series, duplicate files, inconsistent slice sizes, or
            a geometry problem (missing/duplicate slices, uneven spacing beyond `tolerance`).
        LimitExceeded: Rows x Columns x slices above `max_voxels`, before any pixel is decoded.
    """
    import pydicom

    if not urls:
        raise SourceError("the series has no files")
    headers = [read_header(u, storage_options) for u in urls]
    _check_stack(headers)
    try:
        geometry = series_geometry(
            [h.position for h in headers], [h.orientation for h in headers], headers[0].pixel_spacing, tolerance
        )
    except GeometryError as exc:
        raise SourceError(str(exc)) from exc
    first = headers[0]
    declared = first.rows * first.columns * len(headers)
    if declared > max_voxels:
        raise LimitExceeded(f"series Rows x Columns x slices = {declared:,} exceeds max_voxels={max_voxels:,}")
    ct = first.modality == "CT"
    layout = ras_layout((first.columns, first.rows, len(headers)), geometry.affine)
    volume = np.empty(layout.shape, dtype=np.int16 if ct else np.float32)
    view = layout.source_view(volume)  # [column, row, slice]
    for k, index in enumerate(geometry.order):
        url = headers[index].url
        try:
            with open_raw(url, storage_options) as f:
                ds = pydicom.dcmread(f)
            check_dicom_pixels(ds, {"max_pixels": first.rows * first.columns})
            pixels = ds.pixel_array
        except Exception as exc:  # noqa: BLE001 - decoder errors vary by transfer syntax
            raise SourceError(f"{_name(url)}: pixel data cannot be decoded: {exc}") from exc
        if pixels.shape != (first.rows, first.columns):
            raise SourceError(f"{_name(url)}: pixel array {pixels.shape} is not one {first.rows}x{first.columns} slice")
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        if ct:
            view[:, :, k] = to_hu(pixels, slope, intercept).T
        else:
            view[:, :, k] = (pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)).T
    return volume, layout, first.modality
