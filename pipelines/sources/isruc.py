"""ISRUC-Sleep subgroup I: one whole-night PSG per subject, scored in 30-s epochs by two experts.

Layout: ``<pid>/<pid>.rec`` (an EDF file under ISRUC's own extension; ``<pid>.edf`` after the
renaming CLIMB does is found too) with ``<pid>/<pid>_1.txt`` and ``<pid>/<pid>_2.txt``, one stage
code per line and per 30-s epoch from the recording's start (0 W, 1 N1, 2 N2, 3 N3, 5 REM).

Sample unit: one epoch (line n of the scorer files = seconds 30n to 30n+30). Channels by name, the
mastoid reference stripped (``C3-A2`` -> C3): default C3 and C4, as CLIMB, resampled to 125 Hz
(3750 samples) and kept in microvolts (CLIMB's (x+25)/50 scaling is a model-side choice, not done).

Which scorer: option `scorer`: "1" (default, CLIMB's choice), "2", or "agreement" (the label is
kept where both experts give the same stage and masked where they differ). Both raw codes are in
metadata (`scorers`) whatever the option. An epoch listed by the scorer files but running past the
end of the recording is quarantined with its span; a code outside the registry's map is masked; a
recording without one of the two scorer files is quarantined whole (one record naming the missing
file), since the agreement rule and the scorer choice need both.

Subjects: the pid; CLIMB leaves out pids 8 and 18 (option `exclude_subjects`, default "8,18",
counted as excluded). The pipeline's grouped hash splits subjects (CLIMB drew an unseeded subject
permutation per instance, so its train and val overlapped).
"""

from __future__ import annotations

from typing import Any, Iterator

from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources import physio
from climb.pipelines.sources.edf_eeg import edf_duration
from climb.pipelines.sources.psg_epochs import EPOCH_S, PARSERS, read_epoch
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task, norm_code
from climb.storage import filesystem, read_bytes

NAME = "isruc"
SCORERS = ("1", "2")
DEFAULTS: dict[str, Any] = {"channels": "C3,C4", "sampling_rate": 125.0, "quality": "quarantine",
                            "bandpass_hz": None, "notch_hz": None, "scorer": "1", "exclude_subjects": "8,18"}


def subject_ids(value: Any) -> tuple[str, ...]:
    """exclude_subjects as given: "8,18", [8, 18] or a single number (--option values are JSON)."""
    return physio.names(value if isinstance(value, (str, list, tuple)) else [value])


ALL_PARSERS = {**PARSERS, "scorer": physio.choice("1", "2", "agreement"), "exclude_subjects": subject_ids}


def scorer_codes(text: str) -> list[str]:
    """Stage codes of a scorer file, one per non-blank line, as written."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def stage_label(codes: dict[str, str | None], scorer: str) -> int | None:
    """sleep_stage class of an epoch from the scorers' raw codes under the `scorer` rule."""
    task = get_task("sleep_stage")
    labels = {k: (task.map_codes(NAME, [c])[0] if c is not None else None) for k, c in codes.items()}
    if scorer != "agreement":
        return labels[scorer]
    return labels["1"] if labels["1"] is not None and labels["1"] == labels["2"] else None


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    opts = physio.settings(options, ALL_PARSERS, DEFAULTS)
    storage = options.get("storage_options")
    fs, root = filesystem(raw_url, storage)
    if not fs.isdir(root):
        raise FileNotFoundError(f"{raw_url} is not an ISRUC-Sleep folder (expected <pid>/<pid>.rec + <pid>_1.txt, <pid>_2.txt)")
    prefix = raw_url.split("://", 1)[0] + "://" if "://" in raw_url else ""
    root = root.rstrip("/")
    files = {p[len(root) + 1:] for p in fs.find(root)}
    excluded = {norm_code(s) for s in opts["exclude_subjects"]}
    for rel in sorted(files):
        folder, _, name = rel.rpartition("/")
        pid, dot, ext = name.rpartition(".")
        if not dot or ext.lower() not in ("rec", "edf") or folder.rsplit("/", 1)[-1] != pid:
            continue
        url = f"{prefix}{root}/{rel}"
        common = {"source": NAME, "subject_id": pid, "study_id": pid}
        if norm_code(pid) in excluded:
            yield Record(sample_id=rel, paths=(url,), label_row={"excluded": f"subject {pid} is in exclude_subjects"}, **common)
            continue
        texts = {s: f"{folder}/{pid}_{s}.txt" for s in SCORERS}
        missing = [t for t in texts.values() if t not in files]
        if missing:
            yield Record(sample_id=rel, paths=(url,), label_row={"error": f"scorer file {missing[0].rsplit('/', 1)[-1]} is missing"}, **common)
            continue
        codes = {s: scorer_codes(read_bytes(f"{prefix}{root}/{t}", storage).decode("ascii", errors="replace")) for s, t in texts.items()}
        duration = edf_duration(url, options)
        for n in range(max(len(c) for c in codes.values())):
            epoch = {s: (c[n] if n < len(c) else None) for s, c in codes.items()}
            yield Record(sample_id=f"{rel}#{n:05d}", paths=(url,), label_row={"epoch": n, "codes": epoch, "duration_s": duration}, **common)


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if "excluded" in row:
        raise Excluded(row["excluded"])
    if "error" in row:
        raise SourceError(row["error"])
    opts = physio.settings(options, ALL_PARSERS, DEFAULTS)
    n, duration = row["epoch"], row["duration_s"]
    if duration is not None and (n + 1) * EPOCH_S > duration + 1e-6:
        raise SourceError(f"scored epoch {n} ({n * EPOCH_S:g}-{(n + 1) * EPOCH_S:g} s) lies outside the recording (0-{duration:g} s)")
    x, signal_meta = read_epoch(record.paths[0], n, opts, options, what=f"epoch {n}")
    return Sample(
        arrays={"signal": x},
        meta={"signal": signal_meta, "scorers": row["codes"], "scorer_rule": opts["scorer"]},
        labels={"sleep_stage": stage_label(row["codes"], opts["scorer"])},
    )


SOURCE = SourceInfo(
    name=NAME,
    description="ISRUC-Sleep subgroup I PSG (EDF .rec + two scorers' .txt), 30-s epochs of C3/C4 at 125 Hz in uV, AASM stages",
    modalities=("signal",),
    tasks=("sleep_stage",),
    discover=discover,
    read=read,
    defaults=DEFAULTS,
)
