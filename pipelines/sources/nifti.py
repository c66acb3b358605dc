"""Generic NIfTI source: a folder tree of .nii / .nii.gz volumes, one sample per file.

Volumes are reoriented to RAS (nibabel's canonical orientation) and stored as [Z, Y, X] so that
axis 0 is always inferior->superior slices, whatever the scanner wrote; spacing comes from the
header zooms after reorientation. 4D files keep their first volume unless option `volume_index`
says otherwise. Options: `dtype` (float32 | int16, default float32; int16 rounds and clips, as
for CT in HU), `subject_from` (`stem`: the file name without extension, or `parent`: the folder).
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from climb.pipelines.limits import MAX_VOXELS
from climb.pipelines.sources import SourceError, SourceInfo
from climb.schemas.sample import Record, Sample
from climb.storage import filesystem, local_copy

EXTENSIONS = (".nii.gz", ".nii")


def _stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    for ext in EXTENSIONS:
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    fs, root = filesystem(raw_url, options.get("storage_options"))
    prefix = "" if "://" not in raw_url else raw_url.split("://", 1)[0] + "://"
    for path in sorted(fs.find(root)):
        if not path.endswith(EXTENSIONS):
            continue
        rel = path[len(root.rstrip("/")) + 1:]
        subject = rel.rsplit("/", 2)[-2] if options.get("subject_from") == "parent" and "/" in rel else _stem(path)
        yield Record(source="nifti", sample_id=rel, subject_id=subject, paths=(prefix + path,))


def read(record: Record, options: dict[str, Any]) -> Sample:
    import nibabel as nib

    url = record.paths[0]
    suffix = ".nii.gz" if url.endswith(".gz") else ".nii"
    with local_copy(url, options.get("storage_options"), suffix=suffix) as path:
        try:
            img = nib.load(path)
        except Exception as exc:  # nibabel raises several types for bad headers
            raise SourceError(f"not a readable NIfTI file: {exc}") from exc
        shape = img.shape
        if len(shape) < 3:
            raise SourceError(f"expected a 3D or 4D volume, header says shape {shape}")
        voxels = int(np.prod(shape[:3], dtype=np.int64))
        if voxels > options.get("max_voxels", MAX_VOXELS):
            raise SourceError(f"header claims {voxels} voxels, above the limit {options.get('max_voxels', MAX_VOXELS)}")
        canonical = nib.as_closest_canonical(img)
        data = np.asanyarray(canonical.dataobj)
        if data.ndim == 4:
            data = data[..., int(options.get("volume_index", 0))]
        elif data.ndim != 3:
            raise SourceError(f"expected a 3D or 4D volume, got {data.ndim} dimensions")
        zooms = [float(z) for z in canonical.header.get_zooms()[:3]]
    # nibabel's RAS array is indexed [x, y, z]; the schema stores [z, y, x].
    volume = np.ascontiguousarray(np.transpose(data, (2, 1, 0)))
    if options.get("dtype", "float32") == "int16":
        volume = np.clip(np.round(volume), -32768, 32767).astype(np.int16)
    else:
        volume = volume.astype(np.float32)
    if not np.isfinite(volume).all():
        raise SourceError("volume contains NaN or infinite values")
    return Sample(
        arrays={"volume": volume},
        meta={"volume": {"spacing": [zooms[2], zooms[1], zooms[0]], "orientation": "RAS", "axes": "zyx", "units": "scanner"}},
        labels={},
    )


SOURCE = SourceInfo(
    name="nifti",
    description="folder of NIfTI volumes (.nii/.nii.gz), one sample each, reoriented to RAS, stored in Zarr",
    modalities=("volume",),
    tasks=(),
    discover=discover,
    read=read,
    defaults={"dtype": "float32"},
)
