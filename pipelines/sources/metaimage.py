"""A small, strict MetaImage (.mhd + .raw / .mha) reader for 3D scalar volumes.

No pinned library reads MetaImage (SimpleITK/ITK would be a large native dependency for one
format), and the format is simple: a `Key = Value` text header and a raw (optionally zlib
compressed) voxel block, x fastest. Strict means every known key is validated and a file the
reader cannot interpret exactly (more channels, other dimensionality, LIST data files, a data
block of the wrong length) is refused with a reason instead of being guessed at. Keys it does not
use (CenterOfRotation, AnatomicalOrientation, ITK's free-form user fields) are ignored, as ITK does.

Geometry follows ITK's MetaImageIO: row k of TransformMatrix is the direction of voxel axis k,
Offset is the first voxel's centre, both in LPS millimetres.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from climb.transforms.volume import LPS_TO_RAS

ELEMENT_TYPES = {
    "MET_CHAR": "i1", "MET_UCHAR": "u1", "MET_SHORT": "i2", "MET_USHORT": "u2",
    "MET_INT": "i4", "MET_UINT": "u4", "MET_LONG": "i4", "MET_ULONG": "u4",
    "MET_LONG_LONG": "i8", "MET_ULONG_LONG": "u8", "MET_FLOAT": "f4", "MET_DOUBLE": "f8",
}
_ALIASES = {"ElementByteOrderMSB": "BinaryDataByteOrderMSB", "Position": "Offset", "Origin": "Offset",
            "Rotation": "TransformMatrix", "Orientation": "TransformMatrix"}


class MetaImageError(ValueError):
    """A MetaImage header or data block this reader refuses; the message says what is wrong."""


@dataclass(frozen=True)
class MetaHeader:
    """The parts of a MetaImage header that define a 3D scalar volume.

    Attributes:
        dim_size: (x, y, z) voxel counts.
        spacing: (x, y, z) voxel size in mm.
        offset: LPS position of the first voxel's centre.
        directions: 3x3, row k = LPS direction of voxel axis k.
        dtype: numpy dtype of the stored elements, with byte order.
        data_file: ElementDataFile ("LOCAL" = data follows the header in the same file).
        compressed: zlib-compressed data block.
        header_size: bytes to skip at the start of the data file.
    """

    dim_size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    offset: tuple[float, float, float]
    directions: np.ndarray
    dtype: np.dtype
    data_file: str
    compressed: bool
    header_size: int

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.dim_size)) * self.dtype.itemsize

    def affine_ras(self) -> np.ndarray:
        """Voxel (i=x, j=y, k=z) to RAS mm affine."""
        lps = np.eye(4)
        lps[:3, :3] = self.directions.T * np.asarray(self.spacing)
        lps[:3, 3] = self.offset
        return LPS_TO_RAS @ lps


def _numbers(key: str, value: str, count: int, kind: type) -> tuple:
    parts = value.split()
    if len(parts) != count:
        raise MetaImageError(f"{key} needs {count} values, got {value!r}")
    try:
        return tuple(kind(p) for p in parts)
    except ValueError as exc:
        raise MetaImageError(f"{key} has a non-numeric value: {value!r}") from exc


def _bool(key: str, value: str) -> bool:
    v = value.strip().lower()
    if v not in ("true", "false", "1", "0"):
        raise MetaImageError(f"{key} must be True or False, got {value!r}")
    return v in ("true", "1")


def parse_header(text: str) -> MetaHeader:
    """Parse a MetaImage header (the text up to and including the ElementDataFile line)."""
    fields: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if "=" not in line:
            raise MetaImageError(f"header line {number} is not 'Key = Value': {line.strip()[:60]!r}")
        key, value = (part.strip() for part in line.split("=", 1))
        key = _ALIASES.get(key, key)
        if key in fields:
            raise MetaImageError(f"header key {key} appears twice")
        fields[key] = value
        if key == "ElementDataFile":
            break
    for required in ("ObjectType", "NDims", "DimSize", "ElementType", "ElementDataFile"):
        if required not in fields:
            raise MetaImageError(f"header has no {required}")
    if fields["ObjectType"] != "Image":
        raise MetaImageError(f"ObjectType is {fields['ObjectType']!r}, not Image")
    if fields["NDims"] != "3":
        raise MetaImageError(f"NDims is {fields['NDims']}; only 3D volumes are read")
    if fields.get("ElementNumberOfChannels", "1") != "1":
        raise MetaImageError(f"ElementNumberOfChannels is {fields['ElementNumberOfChannels']}; only scalar volumes are read")
    if not _bool("BinaryData", fields.get("BinaryData", "True")):
        raise MetaImageError("BinaryData = False (ASCII voxel data) is not supported")
    element = fields["ElementType"]
    if element not in ELEMENT_TYPES:
        raise MetaImageError(f"unsupported ElementType {element!r}")
    msb = _bool("BinaryDataByteOrderMSB", fields.get("BinaryDataByteOrderMSB", "False"))
    dims = _numbers("DimSize", fields["DimSize"], 3, int)
    if min(dims) <= 0:
        raise MetaImageError(f"DimSize must be positive, got {dims}")
    spacing = _numbers("ElementSpacing", fields.get("ElementSpacing", "1 1 1"), 3, float)
    if min(spacing) <= 0:
        raise MetaImageError(f"ElementSpacing must be positive, got {spacing}")
    offset = _numbers("Offset", fields.get("Offset", "0 0 0"), 3, float)
    matrix = np.asarray(_numbers("TransformMatrix", fields.get("TransformMatrix", "1 0 0 0 1 0 0 0 1"), 9, float)).reshape(3, 3)
    if abs(abs(np.linalg.det(matrix)) - 1.0) > 1e-3:
        raise MetaImageError(f"TransformMatrix is not a rotation: {matrix.ravel().tolist()}")
    header_size = _numbers("HeaderSize", fields.get("HeaderSize", "0"), 1, int)[0]
    if header_size < 0:
        raise MetaImageError("HeaderSize = -1 (data at the end of the file) is not supported")
    data_file = fields["ElementDataFile"]
    if data_file.upper().startswith("LIST") or "%" in data_file:
        raise MetaImageError(f"ElementDataFile {data_file!r}: multi-file data is not supported")
    if "/" in data_file or "\\" in data_file or data_file in (".", ".."):
        # a header must not make the reader open files outside its own folder (../, absolute paths)
        raise MetaImageError(f"ElementDataFile {data_file!r} must be a file name in the header's folder")
    return MetaHeader(
        dim_size=dims,  # type: ignore[arg-type]
        spacing=spacing,  # type: ignore[arg-type]
        offset=offset,  # type: ignore[arg-type]
        directions=matrix,
        dtype=np.dtype(ELEMENT_TYPES[element]).newbyteorder(">" if msb else "<"),
        data_file=data_file,
        compressed=_bool("CompressedData", fields.get("CompressedData", "False")),
        header_size=header_size,
    )


def split_local(blob: bytes) -> tuple[str, bytes]:
    """(header text, data bytes) of a file whose ElementDataFile is LOCAL (.mha)."""
    marker = blob.find(b"ElementDataFile")
    end = blob.find(b"\n", marker) if marker >= 0 else -1
    if end < 0:
        raise MetaImageError("header has no ElementDataFile line")
    return blob[: end + 1].decode("latin-1"), blob[end + 1:]


def decode_data(header: MetaHeader, data: bytes) -> np.ndarray:
    """The voxel block as a [z, y, x] array (x varies fastest on disk)."""
    data = data[header.header_size:]
    if header.compressed:
        # at most one byte more than the header declares: a zlib bomb cannot inflate further
        try:
            data = zlib.decompressobj().decompress(data, header.nbytes + 1)
        except zlib.error as exc:
            raise MetaImageError(f"compressed data block is corrupt: {exc}") from exc
    if len(data) != header.nbytes:
        what = "short" if len(data) < header.nbytes else "long"
        raise MetaImageError(
            f"data block is {what}: {len(data)} bytes, the header's DimSize {list(header.dim_size)} of "
            f"{header.dtype.name} needs {header.nbytes}"
        )
    x, y, z = header.dim_size
    return np.frombuffer(data, dtype=header.dtype).reshape(z, y, x)
