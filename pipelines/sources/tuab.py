"""TUH Abnormal EEG corpus (TUAB v2/v3): EDF recordings labelled normal/abnormal by their folder.

Layout: ``edf/{train,eval}/{normal,abnormal}/01_tcp_ar/<subject>_s<session>_t<token>.edf`` (v3;
v2 nests ``<nnn>/<subject>/<session>/`` below the montage folder; both are found). The label is the
folder, the subject is the file-name prefix, and train/eval is the official, subject-disjoint split
(eval becomes test).

Sample unit: a fixed-length window (default 10 s) of one recording, as in BIOT's TUAB preprocessing
(the source of CLIMB's counts); a tail shorter than a window is dropped. Each window is read with
1 s of context on either side (when the recording has it), filtered and resampled with that context,
then trimmed, so windows have no edge artefacts and equal the same span of the resampled recording.

Channels: `montage` "tcp" (default) gives BIOT's 16 bipolar channels of the TUH "double banana"
(Fp1-F7 ... P4-O2, modern 10-20 names: T3/T4/T5/T6 are T7/T8/P7/P8) computed from the referential
electrodes; "referential" gives the 19 10-20 electrodes (-REF or -LE reference). Resampled to
`sampling_rate` (default 200 Hz), in microvolts. Quality is judged on the referential electrodes
(flat, clipped at the EDF's physical limits): quarantine (default) or mask, where a masked electrode
masks every derivation that uses it.
"""

from __future__ import annotations

from typing import Any, Iterator

from climb.pipelines.sources import Excluded, SourceInfo
from climb.pipelines.sources import physio
from climb.pipelines.sources.edf_eeg import edf_duration, read_window
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task
from climb.storage import filesystem
from climb.transforms import signal as sig

NAME = "tuab"
REFERENTIAL = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz", "P4", "P8", "O1", "O2")
TCP = ("Fp1-F7", "F7-T7", "T7-P7", "P7-O1", "Fp2-F8", "F8-T8", "T8-P8", "P8-O2",
       "Fp1-F3", "F3-C3", "C3-P3", "P3-O1", "Fp2-F4", "F4-C4", "C4-P4", "P4-O2")
TCP_ELECTRODES = tuple(dict.fromkeys(e for pair in TCP for e in pair.split("-")))
CONTEXT_S = 1.0
FLAT_PTP_UV = 1.0  # a 10-s window of a connected electrode never varies by less than 1 uV
DEFAULTS: dict[str, Any] = {"montage": "tcp", "sampling_rate": 200.0, "window_s": 10.0, "quality": "quarantine",
                            "bandpass_hz": None, "notch_hz": None}
PARSERS = {"montage": physio.choice("tcp", "referential"), "sampling_rate": float, "window_s": float,
           "quality": physio.STANDARDIZE_PARSERS["quality"], "bandpass_hz": physio.float_pair, "notch_hz": physio.optional_float}


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    opts = physio.settings(options, PARSERS, DEFAULTS)
    fs, root = filesystem(raw_url, options.get("storage_options"))
    if not fs.isdir(root):
        raise FileNotFoundError(f"{raw_url} is not a TUAB folder (expected edf/train|eval/normal|abnormal/...)")
    prefix = raw_url.split("://", 1)[0] + "://" if "://" in raw_url else ""
    root = root.rstrip("/")
    for path in sorted(p for p in fs.find(root) if p.lower().endswith(".edf")):
        rel = path[len(root) + 1:]
        parts = rel.split("/")
        split = next((p for p in parts[:-1] if p in ("train", "eval")), None)
        label = next((p for p in parts[:-1] if p in ("normal", "abnormal")), None)
        stem = parts[-1][: -len(".edf")]
        subject, session = stem.split("_")[0], "_".join(stem.split("_")[:2])
        common = {"source": NAME, "subject_id": subject, "study_id": session, "paths": (prefix + path,)}
        if split is None or label is None:
            yield Record(sample_id=rel, label_row={"excluded": "not in a train|eval / normal|abnormal folder"}, **common)
            continue
        duration = edf_duration(prefix + path, options)
        if duration is None:
            yield Record(sample_id=rel, label_row={"label": label, "window": 0}, official_split=split, **common)
            continue
        n_windows = int(duration // opts["window_s"])
        if n_windows == 0:
            yield Record(sample_id=rel, label_row={"excluded": f"recording shorter than one {opts['window_s']:g}-s window"}, **common)
        for w in range(n_windows):
            yield Record(sample_id=f"{rel}#{w:05d}", label_row={"label": label, "window": w}, official_split=split, **common)


def read(record: Record, options: dict[str, Any]) -> Sample:
    if "excluded" in record.label_row:
        raise Excluded(record.label_row["excluded"])
    opts = physio.settings(options, PARSERS, DEFAULTS)
    electrodes = TCP_ELECTRODES if opts["montage"] == "tcp" else REFERENTIAL
    start = record.label_row["window"] * opts["window_s"]
    window = read_window(record.paths[0], electrodes, start, opts["window_s"], options, context_s=CONTEXT_S)
    x, quality = physio.check_quality(window.signal, electrodes, opts["quality"], flat_ptp=FLAT_PTP_UV,
                                      clip_limits=window.clip_limits, context=window.context)
    if opts["montage"] == "tcp":
        good = dict(zip(electrodes, quality["channel_mask"]))
        x = sig.bipolar(x, electrodes, TCP)
        quality["channels"] = list(TCP)
        quality["channel_mask"] = [good[a] * good[b] for a, b in (pair.split("-") for pair in TCP)]
    x, conditioning = physio.condition(x, window.fs, opts["sampling_rate"], bandpass_hz=opts["bandpass_hz"],
                                       notch_hz=opts["notch_hz"], length_s=opts["window_s"], context=window.context)
    label, _ = get_task("eeg_abnormal").map_codes(NAME, [record.label_row["label"]])
    meta = {
        "signal": {**quality, **conditioning, "units": "uV", "montage": opts["montage"],
                   "window": {"index": record.label_row["window"], "start_s": start, "length_s": opts["window_s"]}},
        "recording_duration_s": window.duration,
    }
    return Sample(arrays={"signal": x}, meta=meta, labels={"eeg_abnormal": label})


SOURCE = SourceInfo(
    name=NAME,
    description="TUH Abnormal EEG (EDF, normal/abnormal folders), 10-s windows, 16 bipolar TCP channels at 200 Hz in uV",
    modalities=("signal",),
    tasks=("eeg_abnormal",),
    discover=discover,
    read=read,
    defaults=DEFAULTS,
)
