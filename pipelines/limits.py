"""Resource limits for untrusted raw files, checked against headers before anything is decoded.

Decoders allocate what a header declares: a 300-byte PNG can declare 40,000 x 40,000 pixels, a
NIfTI header 10^12 voxels, a DICOM file 65,535 x 65,535 x 100,000 frames, a FIFO or a symlink to
/dev/zero never ends. So every reader compares the declared size with a limit first and refuses
with a reason (the engine quarantines it), and the engine refuses oversized or non-regular files
before a source opens them. Defaults fit the largest real clinical inputs climb converts
(full-field mammograms ~ 30 Mpixel, cine loops of a few hundred 1024^2 frames, CTs of 512 x 512 x
2,000 slices); raise one per conversion with `--option NAME=VALUE`.

    max_file_bytes   4 GiB            any one raw file of a sample (engine, before read())
    max_pixels       268,435,456      rows x columns x frames of one image, cine or video
    max_voxels       536,870,912      x * y * z of one volume (NIfTI, MetaImage, DICOM series)

PNG/JPEG files also meet Pillow's own decompression-bomb guard (2 x Image.MAX_IMAGE_PIXELS,
~179 Mpixel), which reads the header only. Compressed DICOM frames (JPEG, JPEG-LS, JPEG 2000) must
not declare more pixels in their own codestream header than the DICOM header's Rows x Columns.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from typing import Any, Iterable

from climb.pipelines.sources import SourceError
from climb.storage import filesystem, held, is_local, local_path, storage_errors

MAX_FILE_BYTES = 4 * 2**30
MAX_PIXELS = 8192 * 8192 * 4
MAX_VOXELS = 512 * 512 * 2048
DEFAULTS: dict[str, int] = {"max_file_bytes": MAX_FILE_BYTES, "max_pixels": MAX_PIXELS, "max_voxels": MAX_VOXELS}


class LimitExceeded(SourceError):
    """An input whose declared or actual size is above a limit; nothing of it was decoded."""


class NotRegularFile(SourceError):
    """A FIFO, device, socket or a symlink to one: reading it would block or never end."""


def limit(options: dict[str, Any], name: str) -> int:
    """The limit `name` from conversion options (strings from --option accepted), else its default."""
    value = options.get(name)
    return DEFAULTS[name] if value in (None, "") else int(value)


def check(name: str, declared: int, options: dict[str, Any], what: str) -> None:
    """Raise LimitExceeded when `declared` (pixels, voxels, bytes) is above the limit `name`."""
    bound = limit(options, name)
    if declared > bound:
        raise LimitExceeded(f"{what}: {declared:,} exceeds {name}={bound:,} (raise it with --option {name}=N)")


def check_raw_files(urls: Iterable[str], options: dict[str, Any]) -> None:
    """Refuse non-regular and oversized files by metadata alone (one stat per file, no read).

    Missing files pass: the source's read() reports them with its own message. A store that fails
    (connection reset, timeout, refused credentials) raises StorageFailure: not the file's fault.
    """
    for url in urls:
        try:
            with storage_errors("checking a raw file's size"):
                kind, size, path = _stat(url, options.get("storage_options"))
        except OSError:
            continue
        name = path.rsplit("/", 1)[-1]
        if kind == "other":
            raise NotRegularFile(f"{name} is not a regular file (FIFO, device, socket or a link to one)")
        check("max_file_bytes", size, options, f"{name} size in bytes")


def _stat(url: str, storage_options: dict[str, Any] | None) -> tuple[str, int, str]:
    """(file | directory | other, size, path) of a URL; links are followed, as fsspec's info does.

    Local files get one os.stat: fsspec's filesystem lookup and info cost more than the check.
    """
    if is_local(url):
        path = local_path(url)
        st = os.stat(path)
        kind = "directory" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"
        return kind, st.st_size, path
    entry = held(url)
    if entry is not None:  # fetched ahead with its size (climb.prefetch): no request of its own
        info, path = entry.info, url.split("://", 1)[-1]
    else:
        fs, path = filesystem(url, storage_options)
        info = fs.info(path)
    return info.get("type") or "file", int(info.get("size") or 0), path


def image_header_pixels(data: bytes) -> int:
    """Width x height that a PNG/JPEG (or any Pillow-readable image) declares, from its header only.

    Raises:
        SourceError: the bytes are not an image Pillow recognises (wrong magic, truncated header).
        LimitExceeded: Pillow's own decompression-bomb guard fired.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except Image.DecompressionBombError as exc:
        raise LimitExceeded(f"image header declares a decompression bomb: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SourceError(f"not a PNG/JPEG image (header unreadable: {type(exc).__name__})") from None
    return int(width) * int(height)


# JPEG frame headers: SOF0-3, 5-7, 9-11, 13-15 and JPEG-LS SOF55; each is FF xx, length, P, Y, X
_SOF_MARKERS = frozenset([*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0), 0xF7])
_J2K_SIZ = b"\xff\x4f\xff\x51"  # SOC then SIZ: Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz (big endian)


def codestream_dimensions(data: bytes) -> tuple[int, int] | None:
    """(rows, columns) a JPEG, JPEG-LS or JPEG 2000 stream declares in its own header; None if none."""
    if data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 4 <= len(data) and data[pos] == 0xFF:
            marker = data[pos + 1]
            if marker == 0xFF or 0xD0 <= marker <= 0xD8 or marker == 0x01:
                pos += 1 if marker == 0xFF else 2
                continue
            if marker in _SOF_MARKERS:
                return (int.from_bytes(data[pos + 5:pos + 7], "big"), int.from_bytes(data[pos + 7:pos + 9], "big")) if pos + 9 <= len(data) else None
            if marker == 0xDA:
                return None
            pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        return None
    at = data.find(_J2K_SIZ, 0, 4096)  # a raw codestream, or inside a JP2 box
    if at < 0 or at + 24 > len(data):
        return None
    x, y, x0, y0 = (int.from_bytes(data[at + 8 + 4 * i:at + 12 + 4 * i], "big") for i in range(4))
    return max(y - y0, 0), max(x - x0, 0)


def check_dicom_pixels(ds: Any, options: dict[str, Any]) -> None:
    """Refuse a DICOM image before its pixels are decoded: declared size above max_pixels, or a
    compressed frame whose own header declares more pixels than Rows x Columns.

    A JPEG 2000 stream that claims 1,024 x 10,617,088 pixels inside a 1024 x 256 DICOM made
    OpenJPEG allocate until the kernel killed the process (found by tests/hostile/test_fuzz.py).
    """
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    frames = int(ds.get("NumberOfFrames") or 1)
    check("max_pixels", rows * columns * max(frames, 1), options, "DICOM Rows x Columns x NumberOfFrames")
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or not syntax.is_encapsulated or "PixelData" not in ds:
        return
    from pydicom.encaps import generate_fragments

    for fragment in generate_fragments(ds.PixelData):
        dims = codestream_dimensions(fragment)
        if dims is not None and dims[0] * dims[1] > rows * columns:
            raise LimitExceeded(f"a compressed frame declares {dims[0]}x{dims[1]} pixels where the DICOM header says {rows}x{columns}")
