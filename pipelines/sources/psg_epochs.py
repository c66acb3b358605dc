"""One scored 30-s epoch of a polysomnography EDF, standardized: shared by the isruc and shhs sources.

Both datasets score whole nights in 30-s epochs listed beside the EDF (ISRUC: a text file per
scorer, SHHS: profusion XML), so a sample is (recording, epoch index). The epoch is read with
CONTEXT_S of context on either side, quality-checked (flat or clipped channels: quarantine or mask),
filtered/resampled with that context and trimmed, exactly as the sleep-edf source does.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from climb.pipelines.sources import physio
from climb.pipelines.sources.edf_eeg import read_window
from climb.transforms import signal as sig

EPOCH_S = 30.0
CONTEXT_S = 5.0
FLAT_PTP_UV = 1.0
PARSERS = {"channels": physio.names, "sampling_rate": float, "quality": physio.STANDARDIZE_PARSERS["quality"],
           "bandpass_hz": physio.float_pair, "notch_hz": physio.optional_float}


def read_epoch(
    url: str,
    index: int,
    opts: dict[str, Any],
    options: dict[str, Any],
    *,
    what: str,
    canonical: Callable[[str], str | None] = sig.canonical_eeg_channel,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Epoch `index` of the EDF at `url` as float32 [C, 30 s x sampling_rate] in uV, and its meta["signal"].

    Args:
        opts: typed options with channels, sampling_rate, quality, bandpass_hz, notch_hz (PARSERS).
        options: the raw source options (storage_options).
        what: how a quarantine message names the epoch.
        canonical: channel-label mapping handed to edf_eeg.read_window.
    """
    channels: Sequence[str] = opts["channels"]
    start = index * EPOCH_S
    window = read_window(url, channels, start, EPOCH_S, options, context_s=CONTEXT_S, what=what, canonical=canonical)
    x, quality = physio.check_quality(window.signal, channels, opts["quality"], flat_ptp=FLAT_PTP_UV,
                                      clip_limits=window.clip_limits, context=window.context)
    x, conditioning = physio.condition(x, window.fs, opts["sampling_rate"], bandpass_hz=opts["bandpass_hz"],
                                       notch_hz=opts["notch_hz"], length_s=EPOCH_S, context=window.context)
    return x, {**quality, **conditioning, "units": "uV", "epoch": {"index": index, "start_s": start, "length_s": EPOCH_S}}
