"""Trivial pixel scrubbers for the `pixel_scrubber` hook tests (named as "tests.hostile.scrubbers:NAME")."""

from __future__ import annotations

import numpy as np

BAND = 8  # the top 1/BAND of the rows, where scanners burn in patient banners


def blank_top_band(array: np.ndarray, field: str) -> np.ndarray:
    """Zero the top rows of an image [H, W(, 3)] or of every frame of a video [T, H, W(, 3)]."""
    out = array.copy()
    rows = out.shape[0 if field == "image" else 1] // BAND
    if field == "image":
        out[:rows] = 0
    else:
        out[:, :rows] = 0
    return out


def crop(array: np.ndarray, field: str) -> np.ndarray:
    """A broken scrubber: returns a smaller array."""
    return array[1:]
