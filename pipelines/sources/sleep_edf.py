"""Sleep-EDF Expanded (PhysioNet): whole-night PSG recordings scored in 30-s epochs.

Layout: ``sleep-cassette/SC4ssNE0-PSG.edf`` with ``SC4ssNE?-Hypnogram.edf`` (and the same for
``sleep-telemetry/ST7ssN...``), paired by their first six characters (study, subject ss, night N).
The hypnogram is an EDF+ file whose annotations ("Sleep stage W/1/2/3/4/R/?", "Movement time")
start at the PSG's first sample and span whole multiples of 30 s.

Sample unit: one 30-s epoch; an annotation of D seconds yields D // 30 epochs. Channels (default the
two EEG derivations Fpz-Cz and Pz-Oz, picked by name) are read with 5 s of context on either side,
resampled to `sampling_rate` (default 100 Hz, the recording's own EEG rate) and kept in microvolts.
Labels: `sleep_stage` through the registry (R&K stages 3 and 4 -> N3; "?" and movement epochs are
masked). An epoch that runs past the end of the recording is quarantined with the annotation named;
a PSG without hypnogram is excluded. Subjects are the subject number, so both nights of a subject
share a split.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterator

from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources import physio
from climb.pipelines.sources.edf_eeg import pyedflib_reason, read_window
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task
from climb.storage import filesystem, local_copy

NAME = "sleep-edf"
EPOCH_S = 30.0
CONTEXT_S = 5.0
FLAT_PTP_UV = 1.0
DEFAULTS: dict[str, Any] = {"channels": "Fpz-Cz,Pz-Oz", "sampling_rate": 100.0, "quality": "quarantine",
                            "bandpass_hz": None, "notch_hz": None}
PARSERS = {"channels": physio.names, "sampling_rate": float, "quality": physio.STANDARDIZE_PARSERS["quality"],
           "bandpass_hz": physio.float_pair, "notch_hz": physio.optional_float}


def hypnogram(url: str, options: dict[str, Any]) -> list[tuple[float, float, str]]:
    """(onset s, duration s, text) of every annotation of an EDF+ hypnogram."""
    import pyedflib

    with local_copy(url, options.get("storage_options"), suffix=".edf") as path:
        reader = pyedflib.EdfReader(path)
        try:
            onsets, durations, texts = reader.readAnnotations()
        finally:
            reader.close()
    return [(float(o), float(d), str(t).strip()) for o, d, t in zip(onsets, durations, texts)]


def _pairs(fs: Any, root: str) -> dict[str, dict[str, str]]:
    """Study code (first six characters) -> {"psg": path, "hypnogram": path} within one folder."""
    pairs: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted(fs.find(root)):
        name = path.rsplit("/", 1)[-1]
        kind = "psg" if name.endswith("-PSG.edf") else "hypnogram" if name.endswith("-Hypnogram.edf") else None
        if kind:
            pairs[f"{path.rsplit('/', 1)[0]}/{name[:6]}"][kind] = path
    return pairs


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    physio.settings(options, PARSERS, DEFAULTS)
    fs, root = filesystem(raw_url, options.get("storage_options"))
    if not fs.isdir(root):
        raise FileNotFoundError(f"{raw_url} is not a Sleep-EDF folder (expected *-PSG.edf and *-Hypnogram.edf)")
    prefix = raw_url.split("://", 1)[0] + "://" if "://" in raw_url else ""
    root = root.rstrip("/")
    for study_path, files in sorted(_pairs(fs, root).items()):
        study = study_path.rsplit("/", 1)[-1]
        common = {"source": NAME, "subject_id": f"{study[:2]}{study[3:5]}", "study_id": study}
        main = files.get("psg") or files["hypnogram"]
        rel = main[len(root) + 1:]
        if "psg" not in files or "hypnogram" not in files:
            missing = "hypnogram" if "psg" in files else "PSG recording"
            yield Record(sample_id=rel, paths=(prefix + main,), label_row={"excluded": f"no {missing} for {study}"}, **common)
            continue
        paths = (prefix + files["psg"], prefix + files["hypnogram"])
        try:
            annotations = hypnogram(paths[1], options)
        except OSError as exc:
            yield Record(sample_id=rel, paths=paths, label_row={"error": f"unreadable hypnogram: {pyedflib_reason(exc)}"}, **common)
            continue
        for onset, duration, text in annotations:
            for k in range(int(duration // EPOCH_S)):
                start = onset + k * EPOCH_S
                yield Record(sample_id=f"{rel}#{int(round(start / EPOCH_S)):05d}", paths=paths,
                             label_row={"stage": text, "start_s": start}, **common)


def read(record: Record, options: dict[str, Any]) -> Sample:
    if "excluded" in record.label_row:
        raise Excluded(record.label_row["excluded"])
    if "error" in record.label_row:
        raise SourceError(record.label_row["error"])
    opts = physio.settings(options, PARSERS, DEFAULTS)
    stage, start = record.label_row["stage"], record.label_row["start_s"]
    channels = opts["channels"]
    window = read_window(record.paths[0], channels, start, EPOCH_S, options, context_s=CONTEXT_S,
                         what=f"annotation {stage!r}")
    x, quality = physio.check_quality(window.signal, channels, opts["quality"], flat_ptp=FLAT_PTP_UV,
                                      clip_limits=window.clip_limits, context=window.context)
    x, conditioning = physio.condition(x, window.fs, opts["sampling_rate"], bandpass_hz=opts["bandpass_hz"],
                                       notch_hz=opts["notch_hz"], length_s=EPOCH_S, context=window.context)
    label, _ = get_task("sleep_stage").map_codes(NAME, [stage])
    meta = {
        "signal": {**quality, **conditioning, "units": "uV", "epoch": {"start_s": start, "length_s": EPOCH_S}},
        "annotation": stage,
    }
    return Sample(arrays={"signal": x}, meta=meta, labels={"sleep_stage": label})


SOURCE = SourceInfo(
    name=NAME,
    description="Sleep-EDF Expanded PSG (EDF + EDF+ hypnograms), 30-s epochs of Fpz-Cz/Pz-Oz at 100 Hz in uV, AASM stages",
    modalities=("signal",),
    tasks=("sleep_stage",),
    discover=discover,
    read=read,
    defaults=DEFAULTS,
)
