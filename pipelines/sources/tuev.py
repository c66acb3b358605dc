"""TUH EEG Events corpus (TUEV v2): EDF recordings with `.rec` event files -> one window per event.

Layout: ``edf/{train,eval}/<subject>/<name>.edf`` with ``<name>.rec`` beside it. Each `.rec` line
is ``channel,start_s,stop_s,label``: the event's channel (index into TUEV's 22-channel TCP montage,
EVENT_CHANNELS), its span in seconds and its class 1-6 (SPSW, GPED, PLED, EYEM, ARTF, BCKG). The
subject is the folder, and train/eval is the official, subject-disjoint split (eval becomes test).

Sample unit: one `.rec` line, as in BIOT's preprocessing (the source of CLIMB's 111,900 segments):
the event's span with `margin_s` (default 2 s) on either side, i.e. 5 s for TUEV's 1-s events.
BIOT pads by wrapping the recording around (its signal is concatenated three times), so an event
near an edge gets samples from the other end of the night; climb instead slides the window inside
the recording and records where the event lies in it (`event.offset_s`). A window longer than the
recording is quarantined.

Channels and quality as in the tuab source: BIOT's 16 bipolar TCP channels (default) or the 19
referential electrodes, resampled to `sampling_rate` (default 200 Hz), in microvolts. Labels:
`eeg_event` through the registry; an unknown class code is masked. The event's own channel is kept
in metadata (`event.channel`, by its TCP name). An EDF without `.rec` and `.rec` lines that do not
parse are quarantined with their reason; a `.rec` without EDF is quarantined too.
"""

from __future__ import annotations

from typing import Any, Iterator

from climb.pipelines.sources import SourceError, SourceInfo
from climb.pipelines.sources import physio
from climb.pipelines.sources.edf_eeg import edf_duration, read_window
from climb.pipelines.sources.tuab import REFERENTIAL, TCP, TCP_ELECTRODES
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task
from climb.storage import filesystem, read_bytes
from climb.transforms import signal as sig

NAME = "tuev"
# The 22 derivations of TUEV's .rec channel index, in index order (TUH "01_tcp_ar" montage).
EVENT_CHANNELS = ("FP1-F7", "F7-T3", "T3-T5", "T5-O1", "FP2-F8", "F8-T4", "T4-T6", "T6-O2", "A1-T3", "T3-C3",
                  "C3-CZ", "CZ-C4", "C4-T4", "T4-A2", "FP1-F3", "F3-C3", "C3-P3", "P3-O1", "FP2-F4", "F4-C4",
                  "C4-P4", "P4-O2")
CONTEXT_S = 1.0
FLAT_PTP_UV = 1.0
DEFAULTS: dict[str, Any] = {"montage": "tcp", "sampling_rate": 200.0, "margin_s": 2.0, "quality": "quarantine",
                            "bandpass_hz": None, "notch_hz": None}
PARSERS = {"montage": physio.choice("tcp", "referential"), "sampling_rate": float, "margin_s": float,
           "quality": physio.STANDARDIZE_PARSERS["quality"], "bandpass_hz": physio.float_pair,
           "notch_hz": physio.optional_float}


def parse_rec(text: str) -> list[dict[str, Any]]:
    """The events of a `.rec` file, one per non-blank line: channel, start, stop, label, or the parse error.

    Returns:
        [{"line": n, "channel": int, "start_s": float, "stop_s": float, "label": str}] or, for a
        line that does not parse, [{"line": n, "error": reason}].
    """
    events: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        try:
            if len(fields) != 4:
                raise ValueError(f"{len(fields)} fields, expected channel,start,stop,label")
            channel, start, stop = int(fields[0]), float(fields[1]), float(fields[2])
            if not 0 <= channel < len(EVENT_CHANNELS):
                raise ValueError(f"channel {channel} is not one of the {len(EVENT_CHANNELS)} TCP channels")
            if not 0 <= start < stop:
                raise ValueError(f"event span {start:g}-{stop:g} s is empty or negative")
        except ValueError as exc:
            events.append({"line": n, "error": f".rec line {n} ({line.strip()!r}): {exc}"})
            continue
        events.append({"line": n, "channel": channel, "start_s": start, "stop_s": stop, "label": fields[3]})
    return events


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    physio.settings(options, PARSERS, DEFAULTS)
    storage = options.get("storage_options")
    fs, root = filesystem(raw_url, storage)
    if not fs.isdir(root):
        raise FileNotFoundError(f"{raw_url} is not a TUEV folder (expected edf/train|eval/<subject>/*.edf + .rec)")
    prefix = raw_url.split("://", 1)[0] + "://" if "://" in raw_url else ""
    root = root.rstrip("/")
    stems: dict[str, set[str]] = {}
    for path in sorted(fs.find(root)):
        stem, dot, ext = path.rpartition(".")
        if dot and ext.lower() in ("edf", "rec"):
            stems.setdefault(stem, set()).add(ext.lower())
    for stem, kinds in sorted(stems.items()):
        rel = stem[len(root) + 1:]
        parts = rel.split("/")
        split = next((p for p in parts[:-1] if p in ("train", "eval")), None)
        subject = parts[-2] if len(parts) > 1 else parts[-1]
        edf, rec = f"{prefix}{stem}.edf", f"{prefix}{stem}.rec"
        common = {"source": NAME, "subject_id": subject, "study_id": rel, "official_split": split}
        if kinds != {"edf", "rec"}:
            missing = ".rec event file" if "edf" in kinds else "EDF recording"
            only = edf if "edf" in kinds else rec
            yield Record(sample_id=f"{rel}.{'edf' if 'edf' in kinds else 'rec'}", paths=(only,),
                         label_row={"error": f"no {missing} beside {parts[-1]}"}, **common)
            continue
        if split is None:
            yield Record(sample_id=f"{rel}.edf", paths=(edf, rec),
                         label_row={"error": "not in an edf/train or edf/eval folder"}, **common)
            continue
        events = parse_rec(read_bytes(rec, storage).decode("utf-8", errors="replace"))
        duration = edf_duration(edf, options)
        for event in events:
            yield Record(sample_id=f"{rel}.edf#{event['line']:05d}", paths=(edf, rec),
                         label_row={**event, "duration_s": duration}, **common)


def event_window(start_s: float, stop_s: float, margin_s: float, duration_s: float | None) -> tuple[float, float]:
    """(window start, window length) in seconds: the event +- margin, slid inside the recording.

    Raises:
        SourceError: when the window is longer than the recording.
    """
    length = stop_s - start_s + 2 * margin_s
    begin = start_s - margin_s
    if duration_s is None:
        return begin, length
    if length > duration_s + 1e-9:
        raise SourceError(f"a {length:g}-s event window is longer than the recording ({duration_s:g} s)")
    return min(max(begin, 0.0), duration_s - length), length


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if "error" in row:
        raise SourceError(row["error"])
    opts = physio.settings(options, PARSERS, DEFAULTS)
    start, length = event_window(row["start_s"], row["stop_s"], opts["margin_s"], row["duration_s"])
    electrodes = TCP_ELECTRODES if opts["montage"] == "tcp" else REFERENTIAL
    window = read_window(record.paths[0], electrodes, start, length, options, context_s=CONTEXT_S,
                         what=f"event at {row['start_s']:g}-{row['stop_s']:g} s (window {start:g}-{start + length:g} s)")
    x, quality = physio.check_quality(window.signal, electrodes, opts["quality"], flat_ptp=FLAT_PTP_UV,
                                      clip_limits=window.clip_limits, context=window.context)
    if opts["montage"] == "tcp":
        good = dict(zip(electrodes, quality["channel_mask"]))
        x = sig.bipolar(x, electrodes, TCP)
        quality["channels"] = list(TCP)
        quality["channel_mask"] = [good[a] * good[b] for a, b in (pair.split("-") for pair in TCP)]
    x, conditioning = physio.condition(x, window.fs, opts["sampling_rate"], bandpass_hz=opts["bandpass_hz"],
                                       notch_hz=opts["notch_hz"], length_s=length, context=window.context)
    label, _ = get_task("eeg_event").map_codes(NAME, [row["label"]])
    meta = {
        "signal": {**quality, **conditioning, "units": "uV", "montage": opts["montage"],
                   "window": {"start_s": start, "length_s": length}},
        "event": {"channel": EVENT_CHANNELS[row["channel"]], "offset_s": row["start_s"] - start,
                  "length_s": row["stop_s"] - row["start_s"], "code": row["label"]},
        "recording_duration_s": window.duration,
    }
    return Sample(arrays={"signal": x}, meta=meta, labels={"eeg_event": label})


SOURCE = SourceInfo(
    name=NAME,
    description="TUH EEG Events (EDF + .rec events), one 5-s window per event, 16 bipolar TCP channels at 200 Hz in uV",
    modalities=("signal",),
    tasks=("eeg_event",),
    discover=discover,
    read=read,
    defaults=DEFAULTS,
)
