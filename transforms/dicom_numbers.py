"""Numeric DICOM values read straight from a raw element's bytes, for the allow-listed tags.

pydicom converts a raw element through hooks, a VR lookup, character-set handling and its value
classes (DSfloat, IS); for the two dozen numeric attributes climb keeps per file that was about
half of the cost of reading the allow-list. Only values that parse unambiguously take this path
(binary numbers; DS and IS strings whose every component is a plain decimal or integer); anything
else (empty components, odd spacing, non-ASCII bytes, a VR other than the dictionary's or a
numeric one) returns NOT_FAST and goes through pydicom. tests/transforms/test_dicom_numbers.py
checks each case against pydicom's conversion, and tests/transforms/test_phi.py the whole
allow-list (values and JSON types) on every DICOM file that ships with pydicom.
"""

from __future__ import annotations

import re
import struct
from typing import Any

NOT_FAST = object()
"""Returned when a value must go through pydicom's own conversion."""

BINARY_FORMATS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d"}
_DS = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IS = re.compile(r"[+-]?\d+")


def raw_number(vr: str | None, value: bytes | None, little_endian: bool) -> Any:
    """The plain JSON value (int, float or a list of them) of a numeric raw element, or NOT_FAST."""
    if not value:
        return NOT_FAST
    fmt = BINARY_FORMATS.get(vr or "")
    if fmt is not None:
        size = struct.calcsize("<" + fmt)  # standard sizes (native "L" is 8 bytes)
        if len(value) % size:
            return NOT_FAST
        numbers = struct.unpack(f"{'<' if little_endian else '>'}{len(value) // size}{fmt}", value)
        return numbers[0] if len(numbers) == 1 else list(numbers)
    if vr not in ("DS", "IS") or not value.isascii():
        return NOT_FAST
    pattern, kind = (_DS, float) if vr == "DS" else (_IS, int)
    parts = [part.strip(" ") for part in value.decode("ascii").rstrip(" \x00").split("\\")]
    if not all(pattern.fullmatch(part) for part in parts):
        return NOT_FAST
    numbers = [kind(part) for part in parts]
    return numbers[0] if len(numbers) == 1 else numbers
