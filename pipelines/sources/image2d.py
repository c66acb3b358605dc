"""Shared pieces of the 2D image sources (chexpert, mimic-cxr, vindr-cxr, ham10000, aptos, cbis-ddsm).

Each of those sources is a label sheet plus a tree of image files. This module reads the sheets
(plain or gzipped CSV, every value kept as the string the file holds), lists the image files,
decodes JPG/PNG with OpenCV and DICOM with pydicom, and applies the common 2D standardization of
transforms/image.py, so the source modules only describe their layout and label rules.

Common options (all sources): `size` (long side resized to it and zero-padded to a square, as
CLIMB's 224; null keeps the native size), `out_dtype` (uint8 | uint16; JPG/PNG keep their own
depth), `clahe` (a CLAHE clip limit, or null for none), `max_pixels` (declared image size above
which a file is refused before decoding; pipelines/limits.py). DICOM sources also take `window`
(auto | minmax | full | lung | mediastinum | abdomen | climb | "center,width").
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable

import numpy as np

from climb.pipelines.limits import MAX_PIXELS, check, check_dicom_pixels, image_header_pixels, limit
from climb.pipelines.sources import SourceError
from climb import storage
from climb.pipelines.sources.rawroot import dataset_folder
from climb.storage import filesystem

IMAGE_DEFAULTS: dict[str, Any] = {"size": 224, "out_dtype": "uint8", "clahe": None}
DICOM_DEFAULTS: dict[str, Any] = {**IMAGE_DEFAULTS, "window": "auto"}


class RawTree:
    """A raw dataset folder on any fsspec filesystem: find sheets and files, build record URLs.

    With `marker` (a file only the dataset's root holds), RAW_URL may also be the folder directly
    above the dataset's (pipelines/sources/rawroot.py).
    """

    def __init__(self, raw_url: str, options: dict[str, Any], marker: str | None = None):
        self.fs, root = filesystem(raw_url, options.get("storage_options"))
        self.root = root.rstrip("/") if marker is None else dataset_folder(self.fs, root, marker, raw_url)
        self.prefix = "" if "://" not in raw_url else raw_url.split("://", 1)[0] + "://"

    def url(self, rel: str) -> str:
        """The URL of a file given by its path relative to the raw root."""
        return f"{self.prefix}{self.root}/{rel}"

    def find(self, name: str, folders: Iterable[str] = ("",)) -> str | None:
        """The relative path of `name` in the first of `folders` that holds it (glob patterns allowed)."""
        for folder in folders:
            rel = f"{folder.strip('/')}/{name}" if folder else name
            hits = sorted(self.fs.glob(f"{self.root}/{rel}"))
            if hits:
                return hits[0][len(self.root) + 1:]
        return None

    def files(self, folder: str, suffixes: tuple[str, ...]) -> list[str]:
        """Relative paths of the files under `folder` (recursively) ending with one of `suffixes`."""
        base = f"{self.root}/{folder}".rstrip("/")
        if not self.fs.isdir(base):
            return []
        lowered = tuple(s.lower() for s in suffixes)
        return sorted(p[len(self.root) + 1:] for p in self.fs.find(base) if p.lower().endswith(lowered))

    def sheet(self, rel: str) -> tuple[list[str], list[dict[str, str]]]:
        """(header, rows) of a CSV label sheet, .csv or .csv.gz; values are the file's strings."""
        with self.fs.open(f"{self.root}/{rel}", "rb", compression="infer") as f:
            text = f.read().decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text))
        rows = list(reader)
        return [name.strip() for name in (reader.fieldnames or [])], [
            {k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in rows
        ]

    def require(self, name: str, folders: Iterable[str] = ("",)) -> str:
        """Like find(), but a missing label sheet stops discovery with a message naming it."""
        rel = self.find(name, folders)
        if rel is None:
            where = ", ".join(f"{f}/" if f else "the raw root" for f in folders)
            raise SourceError(f"{name} not found in {where} of {self.prefix}{self.root}; is this the right folder?")
        return rel


def image_settings(options: dict[str, Any]) -> tuple[int | None, str, float | None]:
    """(size, out_dtype, clahe clip) from options, accepting the strings --option passes."""
    size = options.get("size", IMAGE_DEFAULTS["size"])
    size = None if size in (None, "", "none", "null") else int(size)
    clip = options.get("clahe")
    clip = None if clip in (None, "", "none", "null", False) else float(clip)
    return size, str(options.get("out_dtype", "uint8")), clip


def read_bytes(url: str, options: dict[str, Any]) -> bytes:
    """A file's bytes; a file the label sheet names but the folder lacks is a SourceError (the
    sample's problem), a failing store a StorageFailure (climb.storage.read_bytes)."""
    try:
        return storage.read_bytes(url, options.get("storage_options"))
    except FileNotFoundError:
        raise SourceError(f"image file listed in the label sheet is missing: {url.rsplit('/', 1)[-1]}") from None


def decode_image(data: bytes, color: bool, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """JPG/PNG bytes -> uint8/uint16 [H, W] grayscale or [H, W, 3] RGB (OpenCV decodes BGR).

    The header's declared size is checked before decoding (pipelines/limits.py): OpenCV would
    allocate a decompression bomb's full size first.
    """
    import cv2

    check("max_pixels", image_header_pixels(data), {"max_pixels": max_pixels}, "image header width x height")
    flags = cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if img is None:
        raise SourceError("the image file cannot be decoded (truncated or not a JPG/PNG)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if color else img


def standardize(img: np.ndarray, options: dict[str, Any], spacing: list[float] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Optional CLAHE, then resize-with-padding; returns the image and its `meta["image"]`."""
    from climb.transforms.image import clahe, resize_pad

    size, _, clip = image_settings(options)
    if clip is not None:
        img = clahe(img, clip)
    meta: dict[str, Any] = {"original_shape": list(img.shape[:2])}
    if size is not None:
        img, placement = resize_pad(img, size)
        meta.update(placement)
        if spacing is not None:
            spacing = [spacing[0] / placement["scale"][0], spacing[1] / placement["scale"][1]]
    meta["spacing"] = spacing
    return img, meta


def read_image(url: str, options: dict[str, Any], color: bool) -> tuple[np.ndarray, dict[str, Any]]:
    """Read and standardize a JPG/PNG image file (no spacing: these formats carry none)."""
    return standardize(decode_image(read_bytes(url, options), color, limit(options, "max_pixels")), options)


def read_dicom(url: str, options: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    """Read one single-frame DICOM image and standardize it with transforms.image.dicom_to_image.

    Returns:
        (image, meta["image"], allow-listed DICOM attributes for meta["dicom"]).
    """
    import pydicom

    from climb.transforms.image import dicom_to_image
    from climb.transforms.phi import dicom_allowed_tags

    data = read_bytes(url, options)
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for non-DICOM input
        raise SourceError(f"not a readable DICOM file: {exc}") from exc
    if "PixelData" not in ds:
        raise SourceError("DICOM file has no pixel data")
    check_dicom_pixels(ds, options)
    size, out_dtype, clip = image_settings(options)
    window = options.get("window", "auto")
    image, meta = dicom_to_image(ds, window=window, out_dtype=out_dtype, size=size, clahe_clip=clip)
    return image, meta, dicom_allowed_tags(ds)
