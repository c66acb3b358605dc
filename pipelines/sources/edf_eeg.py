"""Read windows of EEG channels from EDF/EDF+ files with pyedflib, picked and ordered by name.

discover() needs each recording's length to cut it into windows without decoding it: `edf_duration`
reads only the 256-byte fixed header (number of data records x record duration), a single small
range read even on object storage. read() then decodes just the window (plus some context for
filters and resampling) of the channels it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from climb.pipelines.sources import SourceError
from climb.storage import filesystem, local_copy
from climb.transforms import signal as sig


@dataclass
class EegWindow:
    """signal: float64 [C, T] in uV at fs Hz, including `context` samples before/after the window;
    clip_limits: per channel (physical min, physical max) in uV; duration: the recording's length (s)."""

    signal: np.ndarray
    fs: float
    clip_limits: list[tuple[float, float]]
    context: tuple[int, int]
    duration: float


def edf_duration(url: str, options: dict[str, Any]) -> float | None:
    """Recording length in seconds from the EDF fixed header, or None when the header is unreadable."""
    fs, path = filesystem(url, options.get("storage_options"))
    try:
        with fs.open(path, "rb") as f:
            head = f.read(256)
        n_records, record_s = int(head[236:244]), float(head[244:252])
    except (OSError, ValueError):
        return None
    if n_records < 0 or record_s <= 0:
        return None
    return n_records * record_s


def pyedflib_reason(exc: Exception) -> str:
    """pyedflib prefixes its messages with the local file path; keep only the reason."""
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text


def read_window(
    url: str,
    wanted: Sequence[str],
    start_s: float,
    length_s: float,
    options: dict[str, Any],
    *,
    context_s: float = 0.0,
    what: str = "window",
) -> EegWindow:
    """Decode `length_s` seconds from `start_s` of the channels `wanted` (canonical 10-20 names).

    Args:
        url: the EDF file.
        wanted: canonical channel names, in output order; other channels in the file are ignored.
        start_s, length_s: the window, in seconds from the start of the recording.
        options: source options (for storage_options).
        context_s: extra seconds read on each side when the recording has them.
        what: how the quarantine message names the window (e.g. "annotation 'Sleep stage 2'").

    Raises:
        SourceError: broken header, missing channels, channels at different rates, non-voltage
            units, or a window outside the recording.
    """
    import pyedflib

    with local_copy(url, options.get("storage_options"), suffix=".edf") as path:
        try:
            reader = pyedflib.EdfReader(path)
        except OSError as exc:
            raise SourceError(f"broken EDF header: {pyedflib_reason(exc)}") from exc
        try:
            return _read(reader, wanted, start_s, length_s, context_s, what)
        finally:
            reader.close()


def _read(reader: Any, wanted: Sequence[str], start_s: float, length_s: float, context_s: float, what: str) -> EegWindow:
    try:
        index = sig.channel_order(reader.getSignalLabels(), wanted, sig.canonical_eeg_channel, strict=False)
    except sig.ChannelError as exc:
        raise SourceError(str(exc)) from exc
    rates = {float(reader.getSampleFrequency(i)) for i in index}
    if len(rates) > 1:
        detail = ", ".join(f"{w} {reader.getSampleFrequency(i):g} Hz" for w, i in zip(wanted, index))
        raise SourceError(f"sampling rate mismatch between the channels needed: {detail}")
    fs = rates.pop()
    duration = float(reader.file_duration)
    if start_s < 0 or start_s + length_s > duration + 1e-6:
        raise SourceError(f"{what} at {start_s:g}-{start_s + length_s:g} s lies outside the recording (0-{duration:g} s)")
    first, n = sig.samples(start_s, fs), sig.samples(length_s, fs)
    total = int(reader.getNSamples()[index[0]])
    before = min(sig.samples(context_s, fs), first)
    after = max(0, min(sig.samples(context_s, fs), total - first - n))
    rows, limits = [], []
    for name, i in zip(wanted, index):
        unit = reader.getPhysicalDimension(i)
        try:
            scale = sig.unit_scale(unit, "uV")
        except ValueError as exc:
            raise SourceError(f"channel {name} is in {unit!r}, not a voltage") from exc
        rows.append(reader.readSignal(i, start=first - before, n=before + n + after) * scale)
        low, high = sorted((reader.getPhysicalMinimum(i) * scale, reader.getPhysicalMaximum(i) * scale))
        limits.append((low, high))
    return EegWindow(signal=np.stack(rows), fs=fs, clip_limits=limits, context=(before, after), duration=duration)
