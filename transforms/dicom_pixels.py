"""The stored pixels of a plain uncompressed DICOM frame, read straight from the PixelData bytes.

pydicom's `pixel_array` builds a decoder and its options from the dataset for every call; for the
commonest files (native little-endian, one grayscale frame of 8 or 16 bits) that is ~0.2 ms of a
~4 ms conversion, while the pixels are the bytes themselves. Only that plain case takes this path:
compressed or big-endian transfer syntaxes, colour, multi-frame, other bit depths, short pixel data
and signed values narrower than their container (which pydicom sign-extends) return None and go
through pydicom. tests/transforms/test_dicom_pixels.py compares both on every DICOM file that ships
with pydicom.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

NATIVE_LITTLE_ENDIAN = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")
"""Implicit and explicit VR little endian: pixels stored as they are in memory on x86/ARM."""
FRAME_ATTRIBUTES = ("SamplesPerPixel", "NumberOfFrames", "BitsAllocated", "BitsStored", "PixelRepresentation", "Rows", "Columns")
"""What `native_frame` needs besides the transfer syntax (a file meta attribute)."""


def native_frame(pixel_data: bytes | None, attrs: Mapping[str, Any]) -> np.ndarray | None:
    """The [Rows, Columns] stored values of one native grayscale frame, or None when not that case.

    `attrs` are the file's allow-listed attributes by keyword (transforms/phi.dicom_allowed_tags):
    TransferSyntaxUID, SamplesPerPixel, NumberOfFrames, BitsAllocated, BitsStored,
    PixelRepresentation, Rows, Columns. The array is a read-only view of `pixel_data`.
    """
    if pixel_data is None or attrs.get("TransferSyntaxUID") not in NATIVE_LITTLE_ENDIAN:
        return None
    if (attrs.get("SamplesPerPixel") or 1) != 1 or (attrs.get("NumberOfFrames") or 1) != 1:
        return None
    bits, rows, cols = attrs.get("BitsAllocated"), attrs.get("Rows"), attrs.get("Columns")
    if bits not in (8, 16) or not isinstance(rows, int) or not isinstance(cols, int) or rows <= 0 or cols <= 0:
        return None
    signed = attrs.get("PixelRepresentation") == 1
    if signed and attrs.get("BitsStored") != bits:
        return None
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    if len(pixel_data) < rows * cols * dtype.itemsize:
        return None
    return np.frombuffer(pixel_data, dtype, count=rows * cols).reshape(rows, cols)
