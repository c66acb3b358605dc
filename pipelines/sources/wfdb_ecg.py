"""Read one 12-lead ECG WFDB record (PTB-XL .hea/.dat, PhysioNet Challenge .hea/.mat) and check it.

wfdb reads records by name from a folder, so remote files are first copied side by side into a
temporary folder. Before decoding, the header is checked against the data file: a truncated or
padded file would otherwise be read as garbage or fail with wfdb's vague "Samples were not loaded
correctly". After decoding, lead names go through the ECG alias table and must be exactly the 12
standard leads; values are converted to mV.

Speed: wfdb 4.3.1 parses every header field of every channel with a pandas `.loc[field, column]`
lookup in its spec tables; under pandas 3 that made parsing a 12-lead header ~8 ms, twice per record
(once for the checks, again inside rdrecord): ~90% of converting an ECG. `_dict_specs` answers the
same lookups from a dict while a header is parsed (same objects, same results).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from climb.pipelines.sources import SourceError
from climb.storage import filesystem, is_local, local_path
from climb.transforms import signal as sig

# Bytes per sample of the WFDB storage formats (wfdb-python writes and reads all of these).
_BYTES_PER_SAMPLE = {"8": 1, "16": 2, "24": 3, "32": 4, "61": 2, "80": 1, "160": 2, "212": 1.5, "310": 4 / 3, "311": 4 / 3}
# Digital range of each format; the lowest code of 16-bit formats is WFDB's "no sample" (NaN) marker.
_DIGITAL_RANGE = {"16": (-32767, 32767), "61": (-32767, 32767), "80": (-127, 127), "160": (-32767, 32767),
                  "212": (-2047, 2047), "24": (-(2**23) + 1, 2**23 - 1), "32": (-(2**31) + 1, 2**31 - 1)}


@dataclass
class EcgRecording:
    """A decoded 12-lead record in standard lead order.

    signal: float64 [12, T] in mV; fs: Hz; clip_limits: per lead (low, high) in mV of the ADC range
    (None when the format has no fixed range); comments: the header's comment lines.
    """

    signal: np.ndarray
    fs: float
    clip_limits: list[tuple[float, float]] | None
    comments: list[str]


class _SpecTable:
    """Read-only stand-in for one of wfdb's pandas spec tables: `.index` and `.loc[field, column]`."""

    def __init__(self, frame: Any):
        self.index = tuple(frame.index)
        self.loc = {(f, c): frame.at[f, c] for f in frame.index for c in frame.columns}


_SPEC_NAMES = ("RECORD_SPECS", "SIGNAL_SPECS")
_SPEC_LOCK = threading.Lock()
_SPEC_STATE: dict[str, Any] = {"users": 0, "saved": None, "fast": None}


@contextlib.contextmanager
def _dict_specs() -> Iterator[None]:
    """wfdb's header parser with dict lookups instead of pandas ones (module docstring), then restored."""
    from wfdb.io import _header

    with _SPEC_LOCK:
        if _SPEC_STATE["users"] == 0:
            saved = tuple(getattr(_header, n) for n in _SPEC_NAMES)
            if _SPEC_STATE["fast"] is None:
                _SPEC_STATE["fast"] = tuple(_SpecTable(t) for t in saved)
            _SPEC_STATE["saved"] = saved
            for name, table in zip(_SPEC_NAMES, _SPEC_STATE["fast"]):
                setattr(_header, name, table)
        _SPEC_STATE["users"] += 1
    try:
        yield
    finally:
        with _SPEC_LOCK:
            _SPEC_STATE["users"] -= 1
            if _SPEC_STATE["users"] == 0:
                for name, table in zip(_SPEC_NAMES, _SPEC_STATE["saved"]):
                    setattr(_header, name, table)


@contextlib.contextmanager
def _side_by_side(urls: Sequence[str], options: dict[str, Any]) -> Iterator[str]:
    """A local folder holding the record's files under their own names."""
    if all(is_local(u) for u in urls):
        folders = {os.path.dirname(local_path(u)) for u in urls}
        if len(folders) == 1:
            yield folders.pop()
            return
    tmp = tempfile.mkdtemp(prefix="climb-wfdb-")
    try:
        for url in urls:
            fs, path = filesystem(url, options.get("storage_options"))
            fs.get(path, os.path.join(tmp, os.path.basename(path)))
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_files(urls: Sequence[str], options: dict[str, Any]) -> dict[str, int]:
    """Size of each file by name; a missing one is a SourceError naming it."""
    sizes = {}
    for url in urls:
        fs, path = filesystem(url, options.get("storage_options"))
        if not fs.exists(path):
            raise SourceError(f"missing file {os.path.basename(path)}")
        sizes[os.path.basename(path)] = int(fs.size(path))
    return sizes


def _check_length(header: Any, sizes: dict[str, int]) -> None:
    """The data file must hold exactly what the header declares (samples x signals x format)."""
    if not isinstance(header.sig_len, int) or header.sig_len <= 0:
        raise SourceError("the WFDB header declares no signal length")
    if not header.file_name or len(header.file_name) != header.n_sig or len(header.fmt or []) != header.n_sig:
        raise SourceError(f"the WFDB header declares {header.n_sig} signals but describes {len(header.file_name or [])}")
    by_file: dict[str, list[int]] = {}
    for i, name in enumerate(header.file_name):
        by_file.setdefault(name, []).append(i)
    for name, idx in by_file.items():
        if name not in sizes:
            raise SourceError(f"missing file {name} (the header names it)")
        fmt = str(header.fmt[idx[0]])
        if fmt not in _BYTES_PER_SAMPLE:
            raise SourceError(f"unsupported WFDB storage format {fmt!r}")
        offset = int((header.byte_offset or [0] * len(header.fmt))[idx[0]] or 0)
        expected = offset + math.ceil(header.sig_len * len(idx) * _BYTES_PER_SAMPLE[fmt])
        if sizes[name] != expected:
            held = (sizes[name] - offset) / (len(idx) * _BYTES_PER_SAMPLE[fmt])
            raise SourceError(
                f"header/data length mismatch: the header declares {header.sig_len} samples x {len(idx)} "
                f"signals (format {fmt}, {expected} bytes) but {name} holds {sizes[name]} bytes "
                f"({held:g} samples)"
            )


def read_ecg(header_url: str, data_urls: Sequence[str], options: dict[str, Any], expected_fs: float | None = None) -> EcgRecording:
    """Decode a 12-lead WFDB record and return it in standard lead order, in mV.

    Args:
        header_url: the .hea file.
        data_urls: the data files the header names (.dat or .mat).
        options: source options (for storage_options).
        expected_fs: the rate the layout promises (PTB-XL records500/ -> 500); a header that says
            otherwise is a SourceError.

    Raises:
        SourceError: missing file, header/data length mismatch, sampling rate mismatch, unknown or
            missing leads, non-voltage units.
    """
    import wfdb

    sizes = _check_files([header_url, *data_urls], options)
    with _side_by_side([header_url, *data_urls], options) as folder, _dict_specs():
        record_path = os.path.join(folder, os.path.basename(header_url)[: -len(".hea")])
        try:
            header = wfdb.rdheader(record_path)
        except Exception as exc:  # noqa: BLE001 - wfdb raises bare ValueErrors with terse messages
            raise SourceError(f"unreadable WFDB header: {exc}") from exc
        if expected_fs is not None and float(header.fs) != float(expected_fs):
            raise SourceError(f"sampling rate mismatch: the header says {header.fs:g} Hz where this layout holds {expected_fs:g} Hz records")
        _check_length(header, sizes)
        try:
            record = wfdb.rdrecord(record_path, physical=True)
        except Exception as exc:  # noqa: BLE001 - wfdb's own errors (IndexError, KeyError...) say little
            raise SourceError(f"WFDB signals cannot be decoded: {type(exc).__name__}: {exc}") from exc
    try:
        order = sig.channel_order([str(n) for n in record.sig_name], sig.ECG_LEADS, sig.canonical_ecg_lead, strict=True)
    except sig.ChannelError as exc:
        raise SourceError(str(exc)) from exc
    scale = np.array([[sig.unit_scale(_unit(record.units[i]), "mV")] for i in order])
    signal = record.p_signal.T[order] * scale
    return EcgRecording(signal=signal, fs=float(record.fs), clip_limits=_limits(record, order, scale[:, 0]),
                        comments=list(record.comments or []))


def _unit(unit: str) -> str:
    if not unit or unit.strip().upper() == "NU":
        raise SourceError(f"lead units {unit!r} are not a voltage; cannot convert to mV")
    try:
        sig.unit_scale(unit, "mV")
    except ValueError as exc:
        raise SourceError(f"lead units {unit!r} are not a voltage; cannot convert to mV") from exc
    return unit


def _limits(record: Any, order: list[int], scale: np.ndarray) -> list[tuple[float, float]] | None:
    limits = []
    for k, i in enumerate(order):
        rng = _DIGITAL_RANGE.get(str(record.fmt[i]))
        if rng is None:
            return None
        gain, baseline = float(record.adc_gain[i]), float(record.baseline[i])
        low, high = sorted(((rng[0] - baseline) / gain * scale[k], (rng[1] - baseline) / gain * scale[k]))
        limits.append((low, high))
    return limits
