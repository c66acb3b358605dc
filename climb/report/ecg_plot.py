"""A 12-lead ECG drawn as the standard paper printout: 3 x 4 leads of 2.5 s plus a 10-s lead II rhythm strip.

Everything is laid out in paper millimetres at the standard gain and speed (25 mm/s, 10 mm/mV), on
the usual grid: 1-mm small squares (0.04 s x 0.1 mV) and 5-mm large squares (0.2 s x 0.5 mV). The
figure size is set in real millimetres, so at any dpi a printed PNG has true-scale squares. Columns
show consecutive 2.5-s stretches of the simultaneous recording (I, II, III | aVR, aVL, aVF | V1-V3 |
V4-V6), each row starts with a 1-mV calibration pulse, as a clinician expects. Matplotlib's Agg
canvas is used directly (no pyplot), so rendering is thread-safe and needs no display.
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from climb.transforms.signal import ECG_LEADS, canonical_ecg_lead, pick_channels, unit_scale

MM_PER_S = 25.0
MM_PER_MV = 10.0
LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
RHYTHM_LEAD = "II"
COLUMN_S = 2.5
ROW_MM = 30.0           # baseline-to-baseline distance of the rows (3 mV)
CAL_MM = 10.0           # room for the calibration pulse at the start of each row
MARGIN_MM = 5.0
HEADER_MM = 10.0
GRID_MINOR = "#f7c6c6"
GRID_MAJOR = "#e8878a"


def _grid(width: float, height: float) -> list[LineCollection]:
    minor, major = [], []
    for x in np.arange(0, width + 1e-9, 1.0):
        (major if round(x) % 5 == 0 else minor).append([(x, 0), (x, height)])
    for y in np.arange(0, height + 1e-9, 1.0):
        (major if round(y) % 5 == 0 else minor).append([(0, y), (width, y)])
    return [LineCollection(minor, colors=GRID_MINOR, linewidths=0.3, zorder=0),
            LineCollection(major, colors=GRID_MAJOR, linewidths=0.6, zorder=1)]


def _calibration(x0: float, baseline: float) -> np.ndarray:
    """The 1-mV, 0.2-s square pulse drawn before each row (x, y in mm)."""
    w, h = 0.2 * MM_PER_S, 1.0 * MM_PER_MV
    return np.array([(x0, baseline), (x0 + 2, baseline), (x0 + 2, baseline + h), (x0 + 2 + w, baseline + h),
                     (x0 + 2 + w, baseline), (x0 + CAL_MM, baseline)])


def render_ecg(
    signal: np.ndarray,
    fs: float,
    channels: Sequence[str] = ECG_LEADS,
    *,
    units: str = "mV",
    title: str | None = None,
    dpi: int = 150,
) -> bytes:
    """PNG bytes of the standard 12-lead printout of a [12, T] ECG.

    Args:
        signal: [12, T] ECG; rows named by `channels` (any alias the ECG table knows, any order).
        fs: sampling rate in Hz; the first 10 s are drawn (less if the record is shorter).
        units: the signal's voltage unit (mV, uV, ...), converted to mV for the 10 mm/mV gain.
        title: one line above the grid (never put names or ids here).
        dpi: resolution of the PNG; the paper scale does not depend on it.
    """
    x = pick_channels(np.asarray(signal, dtype=float), list(channels), ECG_LEADS, canonical_ecg_lead, strict=True)
    x = x * unit_scale(units, "mV")
    lead = dict(zip(ECG_LEADS, x))
    seconds = min(x.shape[1] / fs, len(LAYOUT[0]) * COLUMN_S)
    rows = len(LAYOUT) + 1
    width = MARGIN_MM * 2 + CAL_MM + len(LAYOUT[0]) * COLUMN_S * MM_PER_S
    height = MARGIN_MM * 2 + HEADER_MM + rows * ROW_MM
    fig = Figure(figsize=(width / 25.4, height / 25.4), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    for collection in _grid(width, height):
        ax.add_collection(collection)
    trace = {"color": "black", "linewidth": 0.7, "zorder": 3}
    x0 = MARGIN_MM + CAL_MM
    for r in range(rows):
        baseline = height - MARGIN_MM - HEADER_MM - (r + 0.5) * ROW_MM
        cal = _calibration(MARGIN_MM, baseline)
        ax.plot(cal[:, 0], cal[:, 1], **trace)
        names = LAYOUT[r] if r < len(LAYOUT) else (RHYTHM_LEAD,)
        span = COLUMN_S if r < len(LAYOUT) else len(LAYOUT[0]) * COLUMN_S
        for c, name in enumerate(names):
            start, stop = c * span, min((c + 1) * span, seconds)
            if stop <= start:
                continue
            i0, i1 = int(round(start * fs)), int(round(stop * fs))
            t = np.arange(i0, i1) / fs
            ax.plot(x0 + t * MM_PER_S, baseline + lead[name][i0:i1] * MM_PER_MV, **trace)
            ax.text(x0 + start * MM_PER_S + 1.0, baseline + 0.55 * ROW_MM - 4, name, fontsize=9, fontweight="bold", zorder=4)
            if c > 0:
                ax.plot([x0 + start * MM_PER_S] * 2, [baseline - 2.5, baseline + 2.5], **trace)
    footer = f"{MM_PER_S:g} mm/s   {MM_PER_MV:g} mm/mV   {fs:g} Hz"
    ax.text(width - MARGIN_MM, MARGIN_MM * 0.5, footer, fontsize=8, ha="right", va="bottom", zorder=4)
    if title:
        ax.text(MARGIN_MM, height - MARGIN_MM - 2, title, fontsize=10, va="top", zorder=4)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    return buffer.getvalue()
