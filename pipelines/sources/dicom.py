"""Generic DICOM source: a folder tree of DICOM files, one sample per file.

Single-frame files become `image` samples through transforms/image.py's display pipeline (modality
LUT, VOI window or LUT, MONOCHROME1 inversion, photometric conversion); multi-frame files (ultrasound
cine, XA) become `video` samples at the file's frame rate. Every transfer syntax pydicom can decode
with the pinned pylibjpeg/pyjpegls plugins works: JPEG baseline/lossless, JPEG 2000, RLE, JPEG-LS.

Only allow-listed tags (transforms/phi.py) reach the metadata. Subjects are grouped by PatientID
(pseudonymized by the pipeline), read while decoding so discovery only lists files; files without
one are grouped by their folder.

Options: `window` (auto | minmax | full | a CT preset | "center,width"), `size` (long side, padded
square; default native), `out_dtype` (uint8 | uint16), `max_pixels` (rows x columns x frames bound
that protects against decompression bombs), `extensions` (file endings to pick up; "" for all files).
"""

from __future__ import annotations

import io
from typing import Any, Iterator

import numpy as np

from climb.pipelines.limits import check_dicom_pixels
from climb.pipelines.sources import SourceError, SourceInfo
from climb.schemas.sample import Record, Sample
from climb.storage import filesystem, read_bytes

DEFAULT_EXTENSIONS = (".dcm", ".dicom", ".DCM", ".dic")


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    fs, root = filesystem(raw_url, options.get("storage_options"))
    prefix = "" if "://" not in raw_url else raw_url.split("://", 1)[0] + "://"
    exts = options.get("extensions", DEFAULT_EXTENSIONS)
    exts = tuple(exts) if isinstance(exts, (list, tuple)) else tuple(e for e in str(exts).split(",") if e)
    base = root.rstrip("/")
    for path in sorted(fs.find(root)):
        if exts and not path.endswith(exts):
            continue
        rel = path[len(base) + 1:]
        folder = rel.rsplit("/", 1)[0] if "/" in rel else "."
        yield Record(source="dicom", sample_id=rel, subject_id=f"folder:{folder}", paths=(prefix + path,))


def _ids(ds) -> dict[str, str | None]:
    """Raw PatientID / StudyInstanceUID for the pipeline to pseudonymize (never written as is)."""
    return {
        "subject_id": str(ds.get("PatientID") or "").strip() or None,
        "study_id": str(ds.get("StudyInstanceUID") or "").strip() or None,
    }


def _frame_rate(ds) -> float:
    for name in ("RecommendedDisplayFrameRate", "CineRate"):
        value = ds.get(name)
        if value:
            return float(value)
    frame_time = ds.get("FrameTime")
    if frame_time:
        return 1000.0 / float(frame_time)
    return 25.0


def _colour_frames(ds) -> tuple[np.ndarray, dict[str, Any]]:
    """Colour pixels as RGB, whatever the stored colour space (YBR_*, JPEG 2000 RCT/ICT, palette).

    pydicom's decoders know how each transfer syntax stores colour; its converted output is RGB,
    so the pure display transform only has to scale it.
    """
    from pydicom.pixels import apply_color_lut, pixel_array

    pixels = pixel_array(ds)
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, ds)
    bits = 8 if pixels.dtype == np.uint8 else 16
    return pixels, {"PhotometricInterpretation": "RGB", "BitsStored": bits, "PixelRepresentation": 0}


def read(record: Record, options: dict[str, Any]) -> Sample:
    import pydicom
    from pydicom.pixels import pixel_array

    from climb.transforms.image import dicom_to_image
    from climb.transforms.phi import dicom_allowed_tags

    # one read of the whole file, parsed from memory: pydicom's many small reads of a file
    # object cost more than the copy (~20% of dcmread on a 25 KB CT slice)
    data = read_bytes(record.paths[0], options.get("storage_options"))
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for non-DICOM input
        raise SourceError(f"not a readable DICOM file: {exc}") from exc
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise SourceError("DICOM file has no pixel data")
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    frames = int(ds.get("NumberOfFrames") or 1)
    if rows <= 0 or cols <= 0:
        raise SourceError(f"invalid image size {rows}x{cols}")
    check_dicom_pixels(ds, options)  # declared and codestream sizes, before decoding
    tags = dicom_allowed_tags(ds)
    window = options.get("window")
    size = options.get("size")
    out_dtype = options.get("out_dtype", "uint8")
    colour = int(ds.get("SamplesPerPixel") or 1) == 3 or ds.get("PhotometricInterpretation") == "PALETTE COLOR"
    if frames == 1 and not colour:
        image, image_meta = dicom_to_image(ds, tags, window=window, out_dtype=out_dtype, size=size)
        return Sample(arrays={"image": image}, meta={"image": image_meta, "dicom": tags}, **_ids(ds))
    if colour:
        pixels, frame_meta = _colour_frames(ds)
        frame_meta = {**tags, **frame_meta}
    else:
        pixels, frame_meta = pixel_array(ds, raw=True), tags
    if frames == 1:
        image, image_meta = dicom_to_image(pixels, frame_meta, window=window, out_dtype=out_dtype, size=size)
        return Sample(arrays={"image": image}, meta={"image": image_meta, "dicom": tags}, **_ids(ds))
    converted = [dicom_to_image(f, frame_meta, window=window, out_dtype="uint8", size=size) for f in pixels]
    fps = _frame_rate(ds)
    ids = _ids(ds)
    video = np.stack([frame for frame, _ in converted])
    first = converted[0][1]
    video_meta = {"fps": fps, "num_frames": int(video.shape[0]), **{k: v for k, v in first.items() if k != "voi"}}
    return Sample(arrays={"video": video}, meta={"video": video_meta, "dicom": tags}, **ids)


SOURCE = SourceInfo(
    name="dicom",
    description="folder tree of DICOM files, one sample each: 2D images (png) or multi-frame cine (mp4)",
    modalities=("image", "video"),
    tasks=(),
    discover=discover,
    read=read,
    defaults={"out_dtype": "uint8"},
)
