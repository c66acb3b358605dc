"""Sleep Heart Health Study (SHHS1, NSRR): whole-night PSG EDFs with Compumedics profusion XML stages.

Layout: ``shhs1-NNNNNN.edf`` and ``shhs1-NNNNNN-profusion.xml`` anywhere under RAW_URL, paired by
name (NSRR: ``polysomnography/edfs/shhs1/`` and ``polysomnography/annotations-events-profusion/shhs1/``;
CLIMB: ``shhs1/`` and ``label/``). The XML's ``SleepStages/SleepStage`` elements hold one code per
``EpochLength`` (30) seconds from the recording's start: 0 W, 1-4 R&K stages, 5 REM, 6 movement,
9 unscored.

Sample unit: one epoch. Channels: SHHS names its two EEG derivations "EEG" (C4-A1) and "EEG(sec)"
(C3-A2; "EEG2", "EEG 2" or "EEG sec" in some files); options name them C4 and C3 (default
"C3,C4", CLIMB's pair), read at 125 Hz (their native rate) in microvolts.

Labels: `sleep_stage` through the registry: R&K 3 and 4 are both N3 (the reference shhs.py left 4
in the REM class) and 6/9 are masked; CLIMB forward-filled them with the previous stage, which
invents labels. A recording without its XML, an XML that does not parse or has no stages, and an
epoch past the recording's end are quarantined with the reason. Subjects: the NSRR id (the digits
of the file name), so SHHS1 and SHHS2 visits of one participant share a split.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, Iterator

from climb.pipelines.sources import SourceError, SourceInfo
from climb.pipelines.sources import physio
from climb.pipelines.sources.edf_eeg import edf_duration
from climb.pipelines.sources.psg_epochs import EPOCH_S, PARSERS, read_epoch
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task
from climb.storage import filesystem, read_bytes
from climb.transforms import signal as sig

NAME = "shhs"
FILE = re.compile(r"^(shhs\d)-(\d+)(-profusion\.xml|\.edf)$", re.IGNORECASE)
SHHS_CHANNELS = {"EEG": "C4", "EEG(SEC)": "C3", "EEG2": "C3", "EEG 2": "C3", "EEG SEC": "C3"}
DEFAULTS: dict[str, Any] = {"channels": "C3,C4", "sampling_rate": 125.0, "quality": "quarantine",
                            "bandpass_hz": None, "notch_hz": None}


def shhs_channel(label: str) -> str | None:
    """10-20 name of an SHHS channel label ("EEG" -> C4, "EEG(sec)" -> C3), else the generic mapping."""
    return SHHS_CHANNELS.get(label.strip().upper()) or sig.canonical_eeg_channel(label)


def profusion_stages(data: bytes) -> tuple[list[str], float]:
    """(stage codes in epoch order, epoch length s) of a profusion XML.

    Raises:
        SourceError: the XML does not parse, or lists no SleepStage.
    """
    try:
        tree = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SourceError(f"profusion XML does not parse: {exc}") from exc
    stages = [(e.text or "").strip() for e in tree.iter("SleepStage")]
    if not stages:
        raise SourceError("profusion XML lists no SleepStages/SleepStage")
    length = tree.findtext("EpochLength")
    return stages, float(length) if length and length.strip() else EPOCH_S


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    physio.settings(options, PARSERS, DEFAULTS)
    storage = options.get("storage_options")
    fs, root = filesystem(raw_url, storage)
    if not fs.isdir(root):
        raise FileNotFoundError(f"{raw_url} is not an SHHS folder (expected shhs1-NNNNNN.edf + shhs1-NNNNNN-profusion.xml)")
    prefix = raw_url.split("://", 1)[0] + "://" if "://" in raw_url else ""
    root = root.rstrip("/")
    pairs: dict[tuple[str, str], dict[str, str]] = {}
    for path in sorted(fs.find(root)):
        match = FILE.match(path.rsplit("/", 1)[-1])
        if match:
            kind = "edf" if match.group(3).lower() == ".edf" else "xml"
            pairs.setdefault((match.group(1).lower(), match.group(2)), {})[kind] = path
    for (visit, nsrrid), files in sorted(pairs.items()):
        common = {"source": NAME, "subject_id": nsrrid, "study_id": f"{visit}-{nsrrid}"}
        main = files.get("edf") or files["xml"]
        rel = main[len(root) + 1:]
        if len(files) < 2:
            missing = "profusion XML" if "edf" in files else "EDF recording"
            yield Record(sample_id=rel, paths=(prefix + main,), label_row={"error": f"no {missing} for {visit}-{nsrrid}"}, **common)
            continue
        paths = (prefix + files["edf"], prefix + files["xml"])
        try:
            stages, length = profusion_stages(read_bytes(paths[1], storage))
            if length != EPOCH_S:
                raise SourceError(f"profusion EpochLength is {length:g} s, not {EPOCH_S:g}")
        except SourceError as exc:
            yield Record(sample_id=rel, paths=paths, label_row={"error": str(exc)}, **common)
            continue
        duration = edf_duration(paths[0], options)
        for n, code in enumerate(stages):
            yield Record(sample_id=f"{rel}#{n:05d}", paths=paths, label_row={"epoch": n, "code": code, "duration_s": duration}, **common)


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if "error" in row:
        raise SourceError(row["error"])
    opts = physio.settings(options, PARSERS, DEFAULTS)
    n, duration = row["epoch"], row["duration_s"]
    if duration is not None and (n + 1) * EPOCH_S > duration + 1e-6:
        raise SourceError(f"scored epoch {n} ({n * EPOCH_S:g}-{(n + 1) * EPOCH_S:g} s) lies outside the recording (0-{duration:g} s)")
    x, signal_meta = read_epoch(record.paths[0], n, opts, options, what=f"epoch {n}", canonical=shhs_channel)
    label, _ = get_task("sleep_stage").map_codes(NAME, [row["code"]])
    return Sample(arrays={"signal": x}, meta={"signal": signal_meta, "stage_code": row["code"]},
                  labels={"sleep_stage": label})


SOURCE = SourceInfo(
    name=NAME,
    description="SHHS PSG (EDF + profusion XML stages), 30-s epochs of C3/C4 at 125 Hz in uV, AASM stages",
    modalities=("signal",),
    tasks=("sleep_stage",),
    discover=discover,
    read=read,
    defaults=DEFAULTS,
)
