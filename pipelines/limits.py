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
~179 Mpixel), which reads the header only.
"""

from __future__ import annotations

import io
import warnings
from typing import Any, Iterable

from climb.pipelines.sources import SourceError
from climb.storage import filesystem

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

    Missing files pass: the source's read() reports them with its own message.
    """
    for url in urls:
        fs, path = filesystem(url, options.get("storage_options"))
        try:
            info = fs.info(path)
        except OSError:
            continue
        name = path.rsplit("/", 1)[-1]
        if info.get("type") == "other":
            raise NotRegularFile(f"{name} is not a regular file (FIFO, device, socket or a link to one)")
        check("max_file_bytes", int(info.get("size") or 0), options, f"{name} size in bytes")


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
