"""The `pixel_scrubber` hook: a user function that removes burned-in text from pixels before encoding.

climb keeps identifiers out of metadata, but text burned into pixels (ultrasound and secondary
capture annotations: names, dates, MRNs drawn into the image) is out of reach of tag allow-lists
and text scans. A site with an OCR- or layout-based scrubber plugs it in per conversion:

    climb convert dicom RAW OUT --option pixel_scrubber=mysite.deid:scrub

The function is called as ``scrub(array, field) -> array`` for every `image` ([H, W] or [H, W, 3])
and `video` ([T, H, W] or [T, H, W, 3]) array after the source's standardization and before
validation, and must return an array of the same shape and dtype. Its "module:function" name is
recorded in the manifest's config like any option, so `climb reproduce` runs it again. A scrubber
that fails or changes the shape quarantines the sample (stage "scrub"): an unscrubbed image is
never written in its place.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any, Callable

import numpy as np

FIELDS = ("image", "video")


class ScrubError(ValueError):
    """The scrubber returned something that is not the same-shaped, same-dtype array."""


@lru_cache(maxsize=8)
def load(target: str) -> Callable[[np.ndarray, str], np.ndarray]:
    """The function named "module:function"."""
    module, sep, name = target.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"pixel_scrubber must be 'module:function', got {target!r}")
    return getattr(importlib.import_module(module), name)


def scrub(arrays: dict[str, Any], options: dict[str, Any]) -> None:
    """Replace each image/video array in place by the scrubber's output (no-op without the option)."""
    target = options.get("pixel_scrubber")
    if not target:
        return
    fn = load(str(target))
    for field in FIELDS:
        if field not in arrays:
            continue
        before = arrays[field]
        after = np.asarray(fn(before, field))
        if after.shape != before.shape or after.dtype != before.dtype:
            raise ScrubError(f"{target} returned {after.dtype}{list(after.shape)} for {field} {before.dtype}{list(before.shape)}")
        arrays[field] = after
