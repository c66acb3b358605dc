"""Read windows of EEG channels from EDF/EDF+ files with pyedflib, picked and ordered by name.

discover() needs each recording's length to cut it into windows without decoding it: `edf_duration`
reads only the header (number of data records x record duration, checked against the file size),
small range reads even on object storage. read() then decodes just the window (plus some context for
filters and resampling) of the channels it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from climb.pipelines.sources import SourceError
from climb.storage import filesystem, local_copy, storage_errors
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
    """Recording length in seconds from the EDF header, or None when the header cannot be trusted.

    None (read() then quarantines the file with pyedflib's reason, once) for: a non-regular file
    (a FIFO would block discovery forever, /dev/zero never ends), an unreadable header, and a
    header declaring more data records than the file holds (a lying header would otherwise make
    discovery list millions of windows). A failing store raises StorageFailure: a header that
    could not be fetched is not a broken header (the recording would lose its windows).
    """
    fs, path = filesystem(url, options.get("storage_options"))
    try:
        with storage_errors("reading an EDF header"):
            header = _header(fs, path)
    except (OSError, ValueError):
        return None
    if header is None:
        return None
    size, head, n_records, record_s, n_signals, per_record = header
    sample_bytes = 3 if head[:1] == b"\xff" else 2  # BDF: 24-bit samples; EDF: 16-bit
    if 256 * (n_signals + 1) + n_records * per_record * sample_bytes > size:
        return None
    return n_records * record_s


def _header(fs, path: str) -> tuple[int, bytes, int, float, int, int] | None:
    """(file size, first 256 bytes, data records, record seconds, signals, samples per record)."""
    info = fs.info(path)
    if info.get("type") != "file":
        return None
    with fs.open(path, "rb") as f:
        head = f.read(256)
        n_records, record_s, n_signals = int(head[236:244]), float(head[244:252]), int(head[252:256])
        if n_records < 0 or record_s <= 0 or not 0 < n_signals <= 4096:
            return None
        f.seek(256 + 216 * n_signals)
        per_record = sum(int(f.read(8)) for _ in range(n_signals))
    return int(info.get("size") or 0), head, n_records, record_s, n_signals, per_record


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
    canonical: Callable[[str], str | None] = sig.canonical_eeg_channel,
) -> EegWindow:
    """Decode `length_s` seconds from `start_s` of the channels `wanted` (canonical 10-20 names).

    Args:
        url: the EDF file.
        wanted: canonical channel names, in output order; other channels in the file are ignored.
        start_s, length_s: the window, in seconds from the start of the recording.
        options: source options (for storage_options).
        context_s: extra seconds read on each side when the recording has them.
        what: how the quarantine message names the window (e.g. "annotation 'Sleep stage 2'").
        canonical: maps the file's channel labels to the names in `wanted` (SHHS labels its C4
            derivation just "EEG"); default: 10-20 names with references stripped.

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
            return _read(reader, wanted, start_s, length_s, context_s, what, canonical)
        finally:
            reader.close()


def _read(reader: Any, wanted: Sequence[str], start_s: float, length_s: float, context_s: float, what: str,
          canonical: Callable[[str], str | None]) -> EegWindow:
    try:
        index = sig.channel_order(reader.getSignalLabels(), wanted, canonical, strict=False)
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
