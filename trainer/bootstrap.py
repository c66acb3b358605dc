"""Bootstrap confidence intervals over subjects: patients are resampled, never single samples.

Samples of one patient are not independent (several ECGs, slices or epochs of the same person look
alike), so resampling samples would pretend there is more evidence than there is and give intervals
that are too narrow. Each replicate draws as many subjects as there are, with replacement, and takes
all samples of every drawn subject (a subject drawn twice counts twice).

A k-shot score has a second source of chance besides the test set: which k shots were drawn (and the
fine-tuning run's randomness), one draw per seed. `seed_bootstrap` resamples both: each replicate
draws subjects and, independently, as many seeds as were run (with replacement), and averages the
statistic over the drawn seeds; averaging every seed inside every replicate would leave the variance of
the shot draw out of the interval. `paired_bootstrap` compares two encoders on the same replicates
(same subjects, same seeds, hence the same shots): the interval of their difference is much narrower
than two separate intervals suggest, and it is the one that says whether one encoder is better.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

Statistic = Callable[[np.ndarray], Mapping[str, float | int | None]]
SeededStatistic = Callable[[np.ndarray, int], Mapping[str, float | int | None]]


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
    draws = (np.concatenate([groups[s] for s in draw]) for draw in rng.integers(0, len(groups), size=(replicates, len(groups))))
    return percentile_intervals((statistic(picked) for picked in draws), level)


def percentile_intervals(replicates: Iterable[Mapping[str, Any]], level: float = 0.95) -> dict[str, dict[str, Any]]:
    """{name: {"low", "high", "replicates"}} from the float values of each replicate (None = undefined there)."""
    values: dict[str, list[float]] = {}
    for result in replicates:
        for name, value in result.items():
            if isinstance(value, float):
                values.setdefault(name, []).append(value)
    tail = (1 - level) / 2
    out = {}
    for name, got in values.items():
        enough = len(got) >= 10
        out[name] = {"low": float(np.quantile(got, tail)) if enough else None,
                     "high": float(np.quantile(got, 1 - tail)) if enough else None, "replicates": len(got)}
    return out


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def seed_replicates(subjects: np.ndarray, n_seeds: int, replicates: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(sample indices, seed indices) of each replicate: subjects and seeds both resampled with replacement."""
    groups = subject_groups(subjects)
    rng = np.random.default_rng(seed)
    for _ in range(replicates):
        picked = np.concatenate([groups[s] for s in rng.integers(0, len(groups), size=len(groups))])
        yield picked, rng.integers(0, n_seeds, size=n_seeds)


def seed_average(statistic: SeededStatistic, picked: np.ndarray, seeds: np.ndarray) -> dict[str, float | None]:
    """The statistic's float values averaged over the drawn seeds (a seed drawn twice counts twice)."""
    per_seed = [statistic(picked, int(s)) for s in seeds]
    names = {n for r in per_seed for n, v in r.items() if isinstance(v, float) or v is None}
    return {n: _mean([r[n] for r in per_seed if isinstance(r.get(n), float)]) for n in names}


def seed_bootstrap(subjects: np.ndarray, statistic: SeededStatistic, n_seeds: int, replicates: int = 1000, seed: int = 0,
                   level: float = 0.95) -> dict[str, dict[str, Any]]:
    """Percentile intervals of the seed-averaged statistic, resampling test subjects and seeds.

    Args:
        subjects: str [N], the subject of each test sample.
        statistic: f(sample indices, seed index) -> {name: value} for the run of that seed.
        n_seeds: how many seeds were run.
        replicates, seed, level: as subject_bootstrap.
    """
    draws = seed_replicates(subjects, n_seeds, replicates, seed)
    return percentile_intervals((seed_average(statistic, picked, seeds) for picked, seeds in draws), level)


def paired_bootstrap(subjects: np.ndarray, first: SeededStatistic, second: SeededStatistic, n_seeds: int,
                     replicates: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, dict[str, Any]]:
    """Interval of first - second (seed-averaged) on shared replicates, and how often it is <= 0.

    Returns:
        {name: {"low", "high", "replicates", "share_not_above_zero"}}: the last is the share of replicates in
        which the first did not beat the second (a one-sided bootstrap p-value for "first > second").
    """
    differences = []
    for picked, seeds in seed_replicates(subjects, n_seeds, replicates, seed):
        a, b = seed_average(first, picked, seeds), seed_average(second, picked, seeds)
        differences.append({n: a[n] - b[n] for n in a if a[n] is not None and b.get(n) is not None})
    out = percentile_intervals(differences, level)
    for name, entry in out.items():
        got = [d[name] for d in differences if name in d]
        entry["share_not_above_zero"] = float(np.mean(np.asarray(got) <= 0))
    return out
