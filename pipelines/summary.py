"""Small, mergeable summaries of conversion results: what Finalize needs instead of every entry.

Each processed batch yields one `Summary` (counts, fingerprints, label tallies, quarantine file);
summaries merge in any order and any grouping to the same result, because every field is a count,
an exact sum, a min/max, a multiset fingerprint or a list sorted at the end. The graph combines them
with a combiner (partial merges on many workers), so the driver and Finalize hold a few kilobytes
whatever the corpus size, and the manifest's bytes do not depend on how a runner delivered results.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable

from climb.schemas.tasks import TASKS
from climb.transforms.safe_text import spreadsheet_safe

FINGERPRINT_MODULUS = 2**256


def _moments(n: int, total: Fraction, squares: Fraction) -> dict[str, float | None]:
    """Mean and population standard deviation from exact sums (Fractions of the float values).

    The sums are exact, so the result does not depend on the order a runner delivered the samples
    in, nor on how they were split into partial tallies (the manifest's bytes must not). The mean is
    the correctly rounded sum over n, as math.fsum(values) / n gives.
    """
    if not n:
        return {"mean": None, "std": None}
    mean = float(total) / n
    m = Fraction(mean)
    spread = squares - 2 * m * total + n * m * m  # sum of (v - mean)^2, exactly
    std = math.sqrt(max(0.0, float(spread)) / n)
    return {"mean": round(mean, 6), "std": round(std, 6)}


class TaskTally:
    """Label statistics of one task over written samples, built by adding and merging partial tallies.

    Every field is a count, an exact sum (fractions.Fraction of the float labels), a min or a max,
    so tallies made on any workers merge to the same result in any order: that is what lets the
    statistics be combined in the graph instead of gathering every sample's labels in one place.
    """

    def __init__(self, name: str):
        self.name = name
        self.task = TASKS[name]
        self.labelled = 0
        self.masked_count = 0
        width = len(self.task.classes)
        self.counts = [0] * width
        self.masked = [0] * width
        self.known = 0
        self.total = Fraction(0)
        self.squares = Fraction(0)
        self.low: float | None = None
        self.high: float | None = None
        self.by_split: dict[str, list] = {}

    def add(self, labels: dict[str, Any], split: str) -> None:
        """Count one written sample's labels (`labels` is its {task: value} dict)."""
        if self.name not in labels:
            return
        value = labels[self.name]
        self.labelled += 1
        if self.task.type == "multilabel":
            for i in range(len(self.counts)):
                if value is not None and value[i] == 1:
                    self.counts[i] += 1
                if value is None or value[i] is None:
                    self.masked[i] += 1
        elif self.task.type == "regression":
            if value is None:
                self.masked_count += 1
                return
            v = float(value)
            exact = Fraction(v)
            self.known += 1
            self.total += exact
            self.squares += exact * exact
            self.low = v if self.low is None else min(self.low, v)
            self.high = v if self.high is None else max(self.high, v)
            part = self.by_split.setdefault(split, [0, Fraction(0), Fraction(0)])
            part[0] += 1
            part[1] += exact
            part[2] += exact * exact
        else:
            for i in range(len(self.counts)):
                if value == i:
                    self.counts[i] += 1
            if value is None:
                self.masked_count += 1

    def merge(self, other: "TaskTally") -> None:
        """Add another tally of the same task into this one."""
        self.labelled += other.labelled
        self.masked_count += other.masked_count
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]
        self.masked = [a + b for a, b in zip(self.masked, other.masked)]
        self.known += other.known
        self.total += other.total
        self.squares += other.squares
        for bound in (other.low, other.high):
            if bound is not None:
                self.low = bound if self.low is None else min(self.low, bound)
                self.high = bound if self.high is None else max(self.high, bound)
        for split, (n, s1, s2) in other.by_split.items():
            part = self.by_split.setdefault(split, [0, Fraction(0), Fraction(0)])
            part[0] += n
            part[1] += s1
            part[2] += s2

    def result(self) -> dict[str, Any]:
        """The manifest's entry for this task."""
        task = self.task
        stats: dict[str, Any] = {**task.to_dict(), "labelled_samples": self.labelled}
        if task.type == "multilabel":
            stats["counts"] = dict(zip(task.classes, self.counts))
            stats["masked"] = dict(zip(task.classes, self.masked))
        elif task.type == "regression":
            stats["counts"] = {"known": self.known, "masked": self.masked_count}
            stats["summary"] = {**_moments(self.known, self.total, self.squares), "min": self.low, "max": self.high}
            # trainers standardize targets with the train split's moments, never with test labels
            stats["split_summary"] = {split: {"known": n, **_moments(n, s1, s2)} for split, (n, s1, s2) in sorted(self.by_split.items())}
        else:
            stats["counts"] = dict(zip(task.classes, self.counts))
            stats["masked"] = self.masked_count
        return stats


def multiset_add(fingerprint: int, value: str) -> int:
    """Add `value` to an order-independent multiset fingerprint (sum of sha256 values mod 2^256).

    Partial fingerprints made on any workers add up to the same number in any order, so the
    discovered key set and the raw-data fingerprint need no sorted list of every sample anywhere.
    """
    return (fingerprint + int.from_bytes(hashlib.sha256(value.encode("utf-8")).digest(), "big")) % FINGERPRINT_MODULUS


def fingerprint_hex(fingerprint: int, count: int) -> str:
    """The published form of a multiset fingerprint: sha256 over its count and value."""
    return hashlib.sha256(f"climb-multiset:{count}:{fingerprint:064x}".encode("ascii")).hexdigest()


@dataclass
class Summary:
    """Counts, fingerprints and tallies of a set of entries (one batch, or many merged)."""

    batches: int = 0
    items: int = 0
    key_fingerprint: int = 0
    written: int = 0
    quarantined: int = 0
    excluded: int = 0
    source_fingerprint: int = 0
    split_samples: Counter = field(default_factory=Counter)
    modalities: Counter = field(default_factory=Counter)  # written samples carrying each field
    split_conflicts: int = 0
    reasons: Counter = field(default_factory=Counter)
    exclusions: Counter = field(default_factory=Counter)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    quarantine_files: list[str] = field(default_factory=list)
    tasks: dict[str, TaskTally] = field(default_factory=dict)
    workers: Counter = field(default_factory=Counter)

    @property
    def discovered(self) -> int:
        return self.written + self.quarantined + self.excluded

    def add_entry(self, entry: dict[str, Any], task_names: Iterable[str]) -> None:
        """Count one outcome (an entry of kind written, quarantined or excluded)."""
        self.source_fingerprint = multiset_add(self.source_fingerprint, str(entry.get("source_sha256")))
        kind = entry["kind"]
        if kind == "written":
            self.written += 1
            self.split_samples[entry["split"]] += 1
            self.modalities.update(entry["modalities"])
            self.split_conflicts += 1 if entry.get("split_moved") else 0
            self.volumes.extend(entry.get("volumes", ()))
            for name in task_names:
                self.tasks.setdefault(name, TaskTally(name)).add(entry["labels"], entry["split"])
        elif kind == "quarantined":
            self.quarantined += 1
            self.reasons[f"{entry['stage']}:{entry['error_type']}"] += 1
        elif kind == "excluded":
            self.excluded += 1
            self.exclusions[spreadsheet_safe(entry["reason"])] += 1
        else:
            raise ValueError(f"unknown entry kind {kind!r}")

    def merge(self, other: "Summary") -> "Summary":
        """Add `other` into this summary (in place) and return it."""
        self.batches += other.batches
        self.items += other.items
        self.key_fingerprint = (self.key_fingerprint + other.key_fingerprint) % FINGERPRINT_MODULUS
        self.source_fingerprint = (self.source_fingerprint + other.source_fingerprint) % FINGERPRINT_MODULUS
        self.written += other.written
        self.quarantined += other.quarantined
        self.excluded += other.excluded
        self.split_samples.update(other.split_samples)
        self.modalities.update(other.modalities)
        self.split_conflicts += other.split_conflicts
        self.reasons.update(other.reasons)
        self.exclusions.update(other.exclusions)
        self.volumes.extend(other.volumes)
        self.quarantine_files.extend(other.quarantine_files)
        for name, tally in other.tasks.items():
            self.tasks.setdefault(name, TaskTally(name)).merge(tally)
        self.workers.update(other.workers)
        return self

    def merge_all(self, others: Iterable["Summary"]) -> "Summary":
        """Merge every summary of `others` into this one (in place) and return it."""
        for other in others:
            self.merge(other)
        return self


def summarize(entries: Iterable[dict[str, Any]], task_names: Iterable[str]) -> Summary:
    """The summary of some entries (no batch bookkeeping)."""
    names = tuple(sorted(task_names))
    summary = Summary(tasks={name: TaskTally(name) for name in names})
    for entry in entries:
        summary.add_entry(entry, names)
    return summary
