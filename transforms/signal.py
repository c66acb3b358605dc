"""Pure transforms for physiological time series (ECG, EEG): no file access, arrays in, arrays out.

Every function takes a float array shaped [channels, samples] (time on the last axis) and returns a
new array; none mutates its input. Sources chain them after decoding:

    canonical names -> pick/reorder channels -> units -> quality check -> filters -> resample -> crop/pad

Resampling is polyphase (scipy.signal.resample_poly: anti-aliasing FIR, exact rational ratio),
filters are zero-phase (forward-backward), so neither shifts waves in time. Channel names pass
through alias tables so that "MLII", "V1 ", "avr", "ECG I", "EEG FP1-REF" or "C3-A2" all land on one
spelling: ECG leads as I, II, III, aVR, aVL, aVF, V1-V6; EEG electrodes in modern 10-20 names
(T3/T4/T5/T6 become T7/T8/P7/P8), references (-REF, -LE, -AR, -A1, -M2, ...) removed.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np
from scipy import signal as sps

ECG_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

# Upper-cased, prefix-free spelling -> canonical lead. MLI/MLII/MLIII are the "modified limb leads"
# of Holter layouts (MIT-BIH's MLII is lead II recorded from torso electrodes).
_ECG_ALIASES = {lead.upper(): lead for lead in ECG_LEADS} | {"MLI": "I", "MLII": "II", "MLIII": "III"}
_ECG_PREFIX = re.compile(r"^(?:ECG|EKG|LEAD)\s*[-_:]?\s*", re.IGNORECASE)
_PARENTHESIS = re.compile(r"\s*\(.*\)\s*$")

_EEG_ELECTRODES = (
    "Fp1 Fp2 Fpz AF3 AF4 AF7 AF8 AFz F1 F2 F3 F4 F5 F6 F7 F8 F9 F10 Fz FT7 FT8 FT9 FT10 FC1 FC2 FC3 FC4 "
    "FC5 FC6 FCz T7 T8 T9 T10 C1 C2 C3 C4 C5 C6 Cz TP7 TP8 TP9 TP10 CP1 CP2 CP3 CP4 CP5 CP6 CPz P1 P2 "
    "P3 P4 P5 P6 P7 P8 P9 P10 Pz PO3 PO4 PO7 PO8 POz O1 O2 Oz A1 A2 M1 M2"
).split()
# Old 10-20 temporal names (used by TUH and most clinical EDFs) -> modern (ACNS 2006) names.
_EEG_OLD_NAMES = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
_EEG_ALIASES = {e.upper(): e for e in _EEG_ELECTRODES} | _EEG_OLD_NAMES
# A trailing reference is not part of the electrode's identity: -REF/-LE/-AR/-AVG (TUH montages),
# -A1/-A2/-M1/-M2 (mastoid or ear references, as ISRUC's C3-A2).
_EEG_REFERENCE = re.compile(r"-(?:REF|LE|AR|AVG|A1|A2|M1|M2)$")

_UNIT_SCALE = {"v": 1.0, "mv": 1e-3, "uv": 1e-6, "µv": 1e-6, "μv": 1e-6, "nv": 1e-9}


class ChannelError(ValueError):
    """Channel names that cannot be mapped onto the requested layout; the message lists them."""


def canonical_ecg_lead(name: str) -> str | None:
    """The standard spelling of an ECG lead name, or None when it is not one of the 12 leads.

    Examples: "MLII" -> "II", "V1 " -> "V1", "avr" -> "aVR", "ECG I" -> "I", "Lead I (Einthoven)" -> "I".
    """
    text = _PARENTHESIS.sub("", _ECG_PREFIX.sub("", name.strip())).strip()
    return _ECG_ALIASES.get(text.upper())


def canonical_eeg_channel(name: str) -> str | None:
    """The 10-20 spelling of an EEG channel, or None when an electrode in it is unknown.

    Referential channels become the electrode ("EEG FP1-REF" -> "Fp1", "C3-A2" -> "C3", "EEG T3-LE"
    -> "T7"); bipolar derivations keep both electrodes ("EEG Fpz-Cz" -> "Fpz-Cz").
    """
    text = re.sub(r"^EEG\s+", "", name.strip(), flags=re.IGNORECASE).replace(" ", "").upper()
    text = _EEG_REFERENCE.sub("", text)
    parts = [_EEG_ALIASES.get(part) for part in text.split("-")]
    if not parts or any(p is None for p in parts):
        return None
    return "-".join(parts)  # type: ignore[arg-type]


def channel_order(
    names: Sequence[str],
    wanted: Sequence[str],
    canonical: Callable[[str], str | None],
    *,
    strict: bool,
) -> list[int]:
    """Indices into `names` of the channels `wanted`, in the order wanted, matched through `canonical`.

    Args:
        names: raw channel names as the file spells them.
        wanted: canonical names of the output rows, in output order.
        canonical: alias function (canonical_ecg_lead or canonical_eeg_channel).
        strict: when True every input channel must be known and appear in `wanted` (a 12-lead ECG
            with an extra or unknown lead is suspect); when False unknown and extra channels are
            ignored (EEG files carry EKG, photic and marker channels beside the montage).

    Raises:
        ChannelError: naming the unknown, duplicate or missing channels.
    """
    mapped = [canonical(n) for n in names]
    unknown = [n for n, m in zip(names, mapped) if m is None]
    if strict and unknown:
        raise ChannelError(f"unknown lead names {unknown}; expected {list(wanted)}")
    index: dict[str, int] = {}
    duplicates = []
    for i, m in enumerate(mapped):
        if m is None:
            continue
        if m in index:
            duplicates.append(m)
        index.setdefault(m, i)
    if duplicates:
        raise ChannelError(f"channels {sorted(set(duplicates))} appear more than once in {list(names)}")
    missing = [w for w in wanted if w not in index]
    if missing:
        raise ChannelError(f"missing channels {missing} (file has {list(names)})")
    if strict:
        extra = [m for m in index if m not in wanted]
        if extra:
            raise ChannelError(f"unexpected channels {extra}; expected exactly {list(wanted)}")
    return [index[w] for w in wanted]


def pick_channels(
    x: np.ndarray,
    names: Sequence[str],
    wanted: Sequence[str],
    canonical: Callable[[str], str | None],
    *,
    strict: bool,
) -> np.ndarray:
    """Rows of the [C, T] signal `x` reordered to `wanted` (see channel_order); [len(wanted), T]."""
    return x[channel_order(names, wanted, canonical, strict=strict)]


def bipolar(x: np.ndarray, names: Sequence[str], pairs: Sequence[str]) -> np.ndarray:
    """Bipolar derivations "A-B" = x[A] - x[B] from referential rows named by `names`.

    Returns:
        [len(pairs), T] array.
    """
    index = {n: i for i, n in enumerate(names)}
    rows = []
    for pair in pairs:
        a, b = pair.split("-")
        if a not in index or b not in index:
            raise ChannelError(f"derivation {pair} needs {a} and {b}; have {list(names)}")
        rows.append(x[index[a]] - x[index[b]])
    return np.stack(rows)


def unit_scale(unit_from: str, unit_to: str) -> float:
    """Factor that converts values in `unit_from` to `unit_to` (volts family: V, mV, uV/µV, nV)."""
    src, dst = unit_from.strip().lower(), unit_to.strip().lower()
    if src not in _UNIT_SCALE or dst not in _UNIT_SCALE:
        raise ValueError(f"cannot convert {unit_from!r} to {unit_to!r}; known units: V, mV, uV, nV")
    return _UNIT_SCALE[src] / _UNIT_SCALE[dst]


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Polyphase resampling along the last axis by the exact rational ratio fs_out / fs_in.

    A ratio that is not a small fraction (e.g. 257 Hz -> 500 Hz) is approximated with a denominator
    of at most 1000; the output rate error is then below 0.1%.
    """
    if fs_in <= 0 or fs_out <= 0:
        raise ValueError(f"sampling rates must be positive, got {fs_in} -> {fs_out}")
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    if ratio == 1:
        return np.array(x, copy=True)
    return sps.resample_poly(x, ratio.numerator, ratio.denominator, axis=-1)


def bandpass(x: np.ndarray, fs: float, low: float | None, high: float | None, order: int = 3) -> np.ndarray:
    """Zero-phase Butterworth filter: band-pass, or high-pass (high=None) or low-pass (low=None).

    Args:
        x: [C, T] signal.
        fs: sampling rate in Hz.
        low: lower cut-off in Hz (removes baseline wander, e.g. 0.5).
        high: upper cut-off in Hz (removes muscle noise, e.g. 45); must be below fs / 2.
        order: filter order per pass (the forward-backward pass doubles it).
    """
    if low is None and high is None:
        raise ValueError("bandpass needs a low or a high cut-off")
    if high is not None and not high < fs / 2:
        raise ValueError(f"high cut-off {high} Hz must be below the Nyquist rate {fs / 2} Hz")
    if low is not None and high is not None:
        sos = sps.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    elif low is not None:
        sos = sps.butter(order, low, btype="highpass", fs=fs, output="sos")
    else:
        sos = sps.butter(order, high, btype="lowpass", fs=fs, output="sos")
    return sps.sosfiltfilt(sos, x, axis=-1)


def notch(x: np.ndarray, fs: float, freq: float = 50.0, quality: float = 30.0) -> np.ndarray:
    """Zero-phase IIR notch at `freq` Hz (mains interference: 50 Hz in Europe/Asia, 60 Hz in the Americas)."""
    b, a = sps.iirnotch(freq, quality, fs=fs)
    return sps.filtfilt(b, a, x, axis=-1)


def fix_length(x: np.ndarray, length: int, align: str = "start") -> tuple[np.ndarray, dict]:
    """Crop or zero-pad along the last axis to exactly `length` samples.

    Args:
        x: [C, T] signal.
        length: target number of samples.
        align: "start" keeps the first samples and pads at the end; "center" crops and pads equally
            on both sides (one extra sample at the end when odd).

    Returns:
        ([C, length] array, policy record for metadata: align, original/cropped/padded sample counts).
    """
    if align not in ("start", "center"):
        raise ValueError(f"align must be 'start' or 'center', got {align!r}")
    n = x.shape[-1]
    policy = {"align": align, "pad_value": 0.0, "original_samples": int(n),
              "cropped_samples": max(n - length, 0), "padded_samples": max(length - n, 0)}
    if n >= length:
        start = 0 if align == "start" else (n - length) // 2
        return np.array(x[..., start:start + length], copy=True), policy
    before = 0 if align == "start" else (length - n) // 2
    widths = [(0, 0)] * (x.ndim - 1) + [(before, length - n - before)]
    return np.pad(x, widths), policy


def lead_quality(
    x: np.ndarray,
    names: Sequence[str],
    *,
    flat_ptp: float,
    clip_limits: Sequence[tuple[float, float]] | None = None,
    clip_fraction: float = 0.01,
) -> dict[str, str]:
    """Per-channel quality problems: NaN values, a flat line, or clipping at the recorder's limits.

    Args:
        x: [C, T] signal in physical units.
        names: channel names, used as keys of the result.
        flat_ptp: a channel whose peak-to-peak amplitude is at most this (same units as x) is flat;
            one ADC step is a good choice (a disconnected electrode records a constant).
        clip_limits: per channel (low, high) physical limits of the recorder; samples at or beyond
            them are saturated. Without limits, samples equal to the channel's own min or max count.
        clip_fraction: a channel with at least this fraction of saturated samples is clipped.

    Returns:
        channel name -> reason, only for channels with a problem (empty dict = all good).
    """
    problems: dict[str, str] = {}
    n = x.shape[-1]
    for i, name in enumerate(names):
        row = x[i]
        nan = int(np.isnan(row).sum())
        if nan == n:
            problems[name] = "all samples are NaN"
            continue
        if nan:
            problems[name] = f"{nan} of {n} samples are NaN"
            continue
        ptp = float(np.ptp(row))
        if ptp <= flat_ptp:
            problems[name] = f"flat line (peak-to-peak {ptp:.6g} <= {flat_ptp:g})"
            continue
        if clip_limits is not None:
            low, high = clip_limits[i]
            saturated = int(np.count_nonzero((row <= low) | (row >= high)))
        else:
            saturated = int(np.count_nonzero((row == row.min()) | (row == row.max())))
        if saturated >= max(clip_fraction * n, 2):
            problems[name] = f"clipped ({saturated} of {n} samples at the recording limits)"
    return problems


def mask_channels(x: np.ndarray, names: Sequence[str], bad: Sequence[str]) -> tuple[np.ndarray, list[int]]:
    """Zero the rows named in `bad` and return the per-channel mask (1 = usable, 0 = masked)."""
    out = np.array(x, copy=True)
    mask = [0 if n in bad else 1 for n in names]
    for i, keep in enumerate(mask):
        if not keep:
            out[i] = 0.0
    return out, mask


def describe_problems(problems: dict[str, str]) -> str:
    """One line for a quarantine message: 'V3: all samples are NaN; aVL: flat line (...)'."""
    return "; ".join(f"{name}: {reason}" for name, reason in problems.items())


def samples(seconds: float, fs: float) -> int:
    """Number of whole samples in `seconds` at `fs` Hz (guarding against 9.999999 -> 9)."""
    return int(math.floor(seconds * fs + 1e-6))
