"""Lossless PNG for image members, in the codec a conversion chose (`--option png=fast|compact`).

PNG encoding was a third of a DICOM sample's conversion time and PNG decoding is most of a loader's
per-sample work, so the default trades some bytes for speed both ways (docs/SCALING.md):

- ``fast`` (default): every row Up-filtered (minus the row above: one numpy subtraction for the
  whole image) and deflated at level 1 by libdeflate. Against ``compact``: 0.4-0.6x the encode
  time (about the same on flat images) and 0.5-0.7x the decode time (OpenCV), 0.95-1.2x the bytes
  on CT, MR, radiographs, ultrasound and photos, 0.7x on flat images (masks, padded frames).
- ``compact``: OpenCV's libpng with Paeth rows, Huffman-only or default zlib strategy chosen from
  the pixels (FLAT_SHARE, HUFFMAN_FLOOR): the smaller files of earlier climb versions.

Both give the same bytes for the same array on every run and machine. libdeflate's compressor has
no CPU-dispatched code besides checksums and table set-up, and the pinned ``deflate`` wheel fixes its
version; tests/pipelines/test_png_codecs.py holds golden hashes that a platform giving other bytes
would fail.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

PNG_CODECS = ("fast", "compact")
DEFAULT_PNG = "fast"
FAST_LEVEL = 1
"""libdeflate level 1: 0.6-0.9x the time of level 2 for 1.0-1.17x its bytes (slower only on flat images)."""
COMPACT_LEVEL = 1  # zlib level 1: 2x faster than 3 at <5% larger files; decoding speed is the same
COMPACT_FILTER = "PAETH"
"""One PNG row filter for every row instead of libpng's adaptive choice among all five: ~30% less
encoding time (1-58% over the test images), files within 3% of the adaptive size (camera, astronaut,
CT, MR, US, CR, RGB at 224 px and native size; docs/SCALING.md)."""
FLAT_SHARE = 0.45
"""Above this share of pixels equal to their left neighbour, an image has the long runs zlib's
string matching shrinks (ultrasound sectors, masks, screenshots, padded borders): it keeps the
default strategy. Below it, the Paeth residuals are noise-like and matches rarely pay, so the
bytes are Huffman-coded only: CT, MR and radiographs at 224 px and native size encode in
0.66-0.91x the time into 0.78-0.97x the bytes and decode in 0.85-1.0x the time (docs/SCALING.md)."""
HUFFMAN_FLOOR = 4
"""Huffman coding spends at least one bit per byte; a result under raw size / HUFFMAN_FLOOR is
redundant enough (smooth gradients) that the default strategy is tried too and the smaller kept."""
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_CHUNK = 2**31 - 1  # the PNG chunk length limit
_UP = 2  # PNG filter type: each byte minus the byte above it


def png_codec(options: dict[str, Any]) -> str:
    """The codec named by the conversion option `png` (default fast); a clear error for any other."""
    value = options.get("png") or DEFAULT_PNG
    if value not in PNG_CODECS:
        raise ValueError(
            f"--option png={value!r} is not a PNG codec; use png=fast (default: fastest to write and read) "
            "or png=compact (up to 17% smaller files for CT and radiographs at 224 px, about twice the encode time)"
        )
    return value


def png_bytes(image: np.ndarray, codec: str = DEFAULT_PNG) -> bytes:
    """Lossless PNG of a uint8/uint16 grayscale [H, W] or RGB [H, W, 3] image."""
    if image.dtype not in (np.uint8, np.uint16) or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"PNG takes uint8/uint16 [H, W] or [H, W, 3] images, got shape {image.shape} and dtype {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"PNG cannot hold an empty image (shape {image.shape})")
    if codec == "fast":
        return _fast(image)
    if codec == "compact":
        return _compact(image)
    raise ValueError(f"unknown PNG codec {codec!r}; choose one of {', '.join(PNG_CODECS)}")


def _fast(image: np.ndarray) -> bytes:
    import deflate

    height, width = image.shape[:2]
    rows = image.reshape(height, -1)
    if image.dtype == np.uint16:  # PNG samples are big-endian
        rows = rows.astype(">u2").view(np.uint8)
    filtered = np.empty((height, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = _UP
    filtered[0, 1:] = rows[0]  # Up on the first row subtracts zeros
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    data = memoryview(deflate.zlib_compress(filtered, FAST_LEVEL))
    header = struct.pack(">IIBBBBB", width, height, image.dtype.itemsize * 8, 2 if image.ndim == 3 else 0, 0, 0, 0)
    idat = [_chunk(b"IDAT", data[i:i + _MAX_CHUNK]) for i in range(0, len(data), _MAX_CHUNK)]
    return b"".join([_SIGNATURE, _chunk(b"IHDR", header), *idat, _chunk(b"IEND", b"")])


def _chunk(kind: bytes, data: bytes | memoryview) -> bytes:
    import deflate

    return b"".join((struct.pack(">I", len(data)), kind, data, struct.pack(">I", deflate.crc32(data, deflate.crc32(kind)))))


def _compact(image: np.ndarray) -> bytes:
    import cv2

    arr = image
    if arr.ndim == 3:
        arr = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2BGR)
    arr = np.ascontiguousarray(arr)
    if _flat_share(arr) > FLAT_SHARE:
        return _libpng(arr, cv2.IMWRITE_PNG_STRATEGY_DEFAULT)
    data = _libpng(arr, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY)
    if len(data) * HUFFMAN_FLOOR < arr.nbytes:
        matched = _libpng(arr, cv2.IMWRITE_PNG_STRATEGY_DEFAULT)
        data = matched if len(matched) < len(data) else data
    return data


def _flat_share(arr: np.ndarray) -> float:
    """Share of pixels (channels side by side) equal to their left neighbour."""
    rows = arr.reshape(arr.shape[0], -1)
    step = arr.shape[2] if arr.ndim == 3 else 1
    if rows.shape[1] <= step:
        return 1.0
    return np.count_nonzero(rows[:, step:] == rows[:, :-step]) / rows[:, step:].size


def _libpng(arr: np.ndarray, strategy: int) -> bytes:
    import cv2

    params = [cv2.IMWRITE_PNG_COMPRESSION, COMPACT_LEVEL, cv2.IMWRITE_PNG_FILTER,
              getattr(cv2, f"IMWRITE_PNG_FILTER_{COMPACT_FILTER}"), cv2.IMWRITE_PNG_STRATEGY, strategy]
    ok, buf = cv2.imencode(".png", arr, params)
    if not ok:
        raise ValueError(f"PNG encoding failed for an array of shape {arr.shape} and dtype {arr.dtype}")
    return buf.tobytes()
