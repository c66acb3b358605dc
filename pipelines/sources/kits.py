"""KiTS23: kidney tumour CTs as NIfTI, with case-level pathology.

Layout: ``dataset/case_NNNNN/imaging.nii.gz`` (+ segmentation.nii.gz, not read) and
``dataset/kits23.json``, a list of case dicts (`case_id`, `malignant`, ...). One sample per case:
an int16 HU volume in RAS, resampled or kept native by config (pipelines/sources/volumes.py), and
the `kidney_tumor_malignancy` label from `malignant` (null masked; the reference code's 4-class
head for this binary task is not copied). There is no official split, and CLIMB's "first 75% in
JSON order" is not one: cases are split by the pipeline's subject hash (a case is a patient).

Case folders missing from kits23.json are counted as excluded; JSON cases without imaging are
quarantined.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import numpy as np

from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources.nifti import MAX_VOXELS
from climb.pipelines.sources.volumes import VOLUME_DEFAULTS, finish_volume
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task
from climb.storage import filesystem, join, local_copy
from climb.transforms.volume import ras_layout, to_hu

NAME = "kits"
SHEET = "dataset/kits23.json"
IMAGING = "imaging.nii.gz"
NOT_IN_SHEET = "not in label sheet"


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    fs, root = filesystem(raw_url, options.get("storage_options"))
    if not fs.exists(f"{root}/{SHEET}"):
        raise FileNotFoundError(f"{SHEET} not found under {raw_url}; is this a KiTS23 folder?")
    with fs.open(f"{root}/{SHEET}", "rb") as f:
        cases = json.load(f)
    listed = set()
    for case in cases:
        case_id = str(case["case_id"])
        listed.add(case_id)
        yield Record(
            source=NAME,
            sample_id=case_id,
            subject_id=case_id,
            paths=(join(raw_url, "dataset", case_id, IMAGING),),
            label_row={"malignant": case.get("malignant")},
        )
    for path in sorted(fs.glob(f"{root}/dataset/case_*/{IMAGING}")):
        case_id = path.rsplit("/", 2)[-2]
        if case_id not in listed:
            yield Record(source=NAME, sample_id=case_id, subject_id=case_id, paths=(join(raw_url, "dataset", case_id, IMAGING),),
                         options={"exclude": NOT_IN_SHEET})


def read_nifti_hu(path: str, max_voxels: int = MAX_VOXELS) -> tuple[np.ndarray, Any]:
    """A NIfTI CT as int16 HU in the stored RAS layout, filled one source slice at a time.

    The unscaled on-disk array is read once; scl_slope/scl_inter are applied per slice in float32,
    so peak memory is the on-disk array plus the int16 volume.
    """
    import nibabel as nib

    try:
        img = nib.load(path)
    except Exception as exc:  # noqa: BLE001 - nibabel raises several types for bad headers
        raise SourceError(f"not a readable NIfTI file: {exc}") from exc
    if len(img.shape) != 3:
        raise SourceError(f"expected a 3D CT volume, header says shape {img.shape}")
    voxels = int(np.prod(img.shape, dtype=np.int64))
    if voxels > max_voxels:
        raise SourceError(f"header claims {voxels} voxels, above the limit {max_voxels} (option max_voxels)")
    layout = ras_layout(img.shape, img.affine)
    slope, inter = img.dataobj.slope, img.dataobj.inter
    try:
        raw = np.asanyarray(img.dataobj.get_unscaled())
    except Exception as exc:  # noqa: BLE001 - truncated gzip streams, short files
        raise SourceError(f"voxel data cannot be read: {exc}") from exc
    if raw.dtype.kind == "f" and not np.isfinite(raw).all():
        raise SourceError("volume contains NaN or infinite values")
    volume = np.empty(layout.shape, dtype=np.int16)
    view = layout.source_view(volume)
    for k in range(raw.shape[2]):
        view[:, :, k] = to_hu(raw[:, :, k], slope, inter)
    return volume, layout


def read(record: Record, options: dict[str, Any]) -> Sample:
    if record.options.get("exclude"):
        raise Excluded(record.options["exclude"])
    with local_copy(record.paths[0], options.get("storage_options"), suffix=".nii.gz") as path:
        volume, layout = read_nifti_hu(path, int(options.get("max_voxels", MAX_VOXELS)))
    volume, meta = finish_volume(volume, layout, ct=True, options=options, window="abdomen")
    malignant = record.label_row.get("malignant")
    label = None if malignant is None else get_task("kidney_tumor_malignancy").map_codes(NAME, [str(malignant)])[0]
    return Sample(arrays={"volume": volume}, meta={"volume": meta}, labels={"kidney_tumor_malignancy": label})


SOURCE = SourceInfo(
    name=NAME,
    description="KiTS23 kidney tumour CT (NIfTI + kits23.json): int16 HU volumes in RAS, case-level malignancy",
    modalities=("volume",),
    tasks=("kidney_tumor_malignancy",),
    discover=discover,
    read=read,
    defaults=dict(VOLUME_DEFAULTS),
)
