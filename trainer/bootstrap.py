"""Bootstrap confidence intervals over subjects: patients are resampled, never single samples.

Samples of one patient are not independent (several ECGs, slices or epochs of the same person look
alike), so resampling samples would pretend there is more evidence than there is and give intervals
that are too narrow. Each replicate draws as many subjects as there are, with replacement, and takes
all samples of every drawn subject (a subject drawn twice counts twice).
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

Statistic = Callable[[np.ndarray], Mapping[str, float | int | None]]


def subject_groups(subjects: np.ndarray) -> list[np.ndarray]:
    """Sample indices of each distinct subject, subjects in sorted order."""
    distinct, inverse = np.unique(np.asarray(subjects).astype(str), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(distinct) + 1))
    return [order[bounds[s]:bounds[s + 1]] for s in range(len(distinct))]


def subject_bootstrap(subjects: np.ndarray, statistic: Statistic, replicates: int = 1000, seed: int = 0,
                      level: float = 0.95) -> dict[str, dict[str, float | int | None]]:
    """Percentile intervals of each float value of `statistic` under resampling of subjects.

    Args:
        subjects: str [N], the subject of each sample.
        statistic: f(sample indices) -> {name: value}; values None (undefined on a replicate, e.g.
            AUROC with one class) are left out of that name's distribution.
        replicates: bootstrap replicates.
        seed: seeds the draws (same seed, same intervals).
        level: coverage of the interval.

    Returns:
        {name: {"low", "high", "replicates": how many replicates defined it}}; low/high None when
        fewer than 10 replicates did.
    """
    groups = subject_groups(subjects)
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {}
    for draw in rng.integers(0, len(groups), size=(replicates, len(groups))):
        picked = np.concatenate([groups[s] for s in draw])
        for name, value in statistic(picked).items():
            if isinstance(value, float):
                values.setdefault(name, []).append(value)
    tail = (1 - level) / 2
    out = {}
    for name, got in values.items():
        enough = len(got) >= 10
        out[name] = {"low": float(np.quantile(got, tail)) if enough else None,
                     "high": float(np.quantile(got, 1 - tail)) if enough else None, "replicates": len(got)}
    return out
