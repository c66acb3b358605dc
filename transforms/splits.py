"""Subject-grouped, deterministic split assignment.

A subject's split is a pure function of (salt, pseudonymized subject id, fractions): it does not
depend on which other subjects exist or on the order they arrive, so adding a site never moves an
existing patient between splits, and no subject can ever land in two splits. An official split
(PTB-XL strat_fold, CheXpert valid.csv, ...) wins over the hash when the source provides one.
"""

from __future__ import annotations

import hashlib
import math
from typing import Mapping

DEFAULT_FRACTIONS: Mapping[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}
SPLIT_NAMES = ("train", "val", "test")

_OFFICIAL_ALIASES = {
    "train": "train", "training": "train", "tr": "train",
    "val": "val", "valid": "val", "validate": "val", "validation": "val", "dev": "val",
    "test": "test", "eval": "test", "evaluation": "test", "testing": "test",
}


def unit_interval(*parts: str) -> float:
    """Map strings to a uniform number in [0, 1) via SHA-256 (first 8 bytes)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def normalise_official(split: str) -> str:
    """Official split names vary (TRAIN, validate, eval, ...); map them onto train/val/test."""
    key = str(split).strip().lower()
    if key not in _OFFICIAL_ALIASES:
        raise ValueError(f"unknown official split {split!r}; expected one of {sorted(_OFFICIAL_ALIASES)}")
    return _OFFICIAL_ALIASES[key]


def check_fractions(fractions: Mapping[str, float]) -> None:
    """Raise ValueError unless the fractions are finite, non-negative and sum to 1.

    NaN must be refused explicitly: every comparison with NaN is False, so a sum check alone lets
    {"train": nan, ...} through and the bins silently collapse into the last split.
    """
    if not fractions:
        raise ValueError("split fractions are empty")
    if any(not isinstance(f, (int, float)) or isinstance(f, bool) or not math.isfinite(f) or f < 0 for f in fractions.values()):
        raise ValueError(f"split fractions must be finite non-negative numbers, got {dict(fractions)}")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {total} from {dict(fractions)}")


def assign_split(
    subject: str,
    salt: str,
    fractions: Mapping[str, float] = DEFAULT_FRACTIONS,
    official: str | None = None,
) -> str:
    """The split of one subject.

    Args:
        subject: the pseudonymized subject id (group key: patient, lesion or exam).
        salt: the conversion's salt; a different salt gives an independent split.
        fractions: split name -> fraction, summing to 1; order of the mapping is the bin order.
        official: the source's own split for this sample, if it has one.
    """
    if official is not None:
        return normalise_official(official)
    check_fractions(fractions)
    u = unit_interval("split", salt, subject)
    edge = 0.0
    names = [name for name, f in fractions.items() if f > 0]
    for name in names:
        edge += fractions[name]
        if u < edge:
            return name
    # Fractions may sum to 1 - 1e-6; the sliver above the last edge goes to the last non-empty split.
    return names[-1]


def order_key(salt: str, key: str) -> str:
    """Sort key of a sample inside its split: sha256(salt + key), hex."""
    return hashlib.sha256(f"{salt}\x1f{key}".encode("utf-8")).hexdigest()
