"""Shared by the ECG and EEG sources: option parsing and the standardization chain for [C, T] signals.

`climb convert --option key=value` delivers strings; `settings()` turns them into typed values with
one parser per option, so every source states its options once, with their defaults.

The standardization chain, in this order: `check_quality()` judges each channel on the decoded
physical values (where the recorder's limits are known) and quarantines or masks; a source may then
derive channels (EEG bipolar montages); `condition()` applies optional zero-phase band-pass and
notch filters at the native rate, polyphase resampling to the target rate, and an optional crop/pad
to a fixed length, and casts to float32. Every step that ran is described under meta["signal"], so
a reader of the shards can tell exactly what was done.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from climb.pipelines.sources import SourceError
from climb.transforms import signal as sig

QUALITY_POLICIES = ("quarantine", "mask")


def optional_float(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    return float(value)


def float_pair(value: Any) -> tuple[float | None, float | None] | None:
    """'0.5,45' or [0.5, 45] -> (0.5, 45.0); 'none' -> None; either side may be 'none'."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    if len(parts) != 2:
        raise ValueError(f"expected two numbers 'low,high', got {value!r}")
    return optional_float(parts[0]), optional_float(parts[1])


def choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in allowed:
            raise ValueError(f"expected one of {list(allowed)}, got {value!r}")
        return text

    return parse


def names(value: Any) -> tuple[str, ...]:
    """'Fpz-Cz,Pz-Oz' or a list -> a tuple of names."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(i).strip() for i in items if str(i).strip())


def settings(options: dict[str, Any], parsers: dict[str, Callable[[Any], Any]], defaults: dict[str, Any]) -> dict[str, Any]:
    """Typed options: defaults overridden by `options`, each value run through its parser."""
    out = {}
    for key, parse in parsers.items():
        raw = options.get(key, defaults[key])
        try:
            out[key] = parse(raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"option {key}={raw!r}: {exc}") from exc
    return out


STANDARDIZE_PARSERS: dict[str, Callable[[Any], Any]] = {
    "quality": choice(*QUALITY_POLICIES),
    "bandpass_hz": float_pair,
    "notch_hz": optional_float,
    "length_s": optional_float,
    "align": choice("start", "center"),
}


def check_quality(
    x: np.ndarray,
    channels: Sequence[str],
    policy: str,
    *,
    flat_ptp: float,
    clip_limits: Sequence[tuple[float, float]] | None,
    context: tuple[int, int] = (0, 0),
) -> tuple[np.ndarray, dict[str, Any]]:
    """Per-channel quality check of a decoded [C, T] signal, then quarantine or mask.

    Args:
        x: [C, T] physical values, channels in output order.
        channels: names of the rows.
        policy: "quarantine" (raise) or "mask" (zero the bad rows and say so in the metadata).
        flat_ptp, clip_limits: see transforms.signal.lead_quality.
        context: samples before/after the part that will be kept (read only as filter context);
            only the kept part is judged.

    Returns:
        (x with masked rows zeroed, {"channels", "channel_mask", "masked_channels" if any}).

    Raises:
        SourceError: naming every bad channel and its reason, when the policy is "quarantine".
    """
    kept = x[:, context[0]: x.shape[1] - context[1]]
    problems = sig.lead_quality(kept, channels, flat_ptp=flat_ptp, clip_limits=clip_limits)
    if problems and policy == "quarantine":
        raise SourceError(f"bad channels: {sig.describe_problems(problems)}")
    x, mask = sig.mask_channels(x, channels, list(problems))
    meta: dict[str, Any] = {"channels": list(channels), "channel_mask": mask}
    if problems:
        meta["masked_channels"] = dict(problems)
    return x, meta


def condition(
    x: np.ndarray,
    fs_in: float,
    fs_out: float,
    *,
    bandpass_hz: tuple[float | None, float | None] | None = None,
    notch_hz: float | None = None,
    length_s: float | None = None,
    align: str = "start",
    context: tuple[int, int] = (0, 0),
) -> tuple[np.ndarray, dict[str, Any]]:
    """Filters at the native rate, polyphase resampling, context trim and crop/pad; float32 out.

    Args:
        x: [C, T] signal at fs_in Hz.
        fs_in, fs_out: native and written sampling rates.
        bandpass_hz: (low, high) cut-offs of a zero-phase Butterworth filter, either may be None.
        notch_hz: mains frequency to notch out.
        length_s, align: crop/zero-pad the result to this many seconds (see fix_length).
        context: samples at fs_in before/after the kept part. Filtering and resampling see them, so
            the kept part has no edge artefacts; they are cut off after resampling.

    Returns:
        (float32 [C, T'] array, metadata: sampling rates, filters, length policy).
    """
    meta: dict[str, Any] = {"sampling_rate": float(fs_out), "source_sampling_rate": float(fs_in)}
    if bandpass_hz is not None:
        x = sig.bandpass(x, fs_in, bandpass_hz[0], bandpass_hz[1])
        meta["bandpass_hz"] = list(bandpass_hz)
    if notch_hz is not None:
        x = sig.notch(x, fs_in, notch_hz)
        meta["notch_hz"] = notch_hz
    kept = x.shape[1] - context[0] - context[1]
    x = sig.resample(x, fs_in, fs_out)
    if context != (0, 0):
        start = round(context[0] * fs_out / fs_in)
        x = x[:, start: start + round(kept * fs_out / fs_in)]
    if length_s is not None:
        x, policy = sig.fix_length(x, sig.samples(length_s, fs_out), align)
        meta["length"] = policy
    return np.ascontiguousarray(x, dtype=np.float32), meta


def conditioning(opts: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of condition() from parsed options (STANDARDIZE_PARSERS keys)."""
    return {key: opts[key] for key in ("bandpass_hz", "notch_hz", "length_s", "align")}
