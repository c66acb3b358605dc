"""k-shot training sets: k labelled samples per class, deterministic, spread over subjects, never a test patient.

The draw is a pure function of (labels, subjects, keys, k, seed): subjects are put in a seeded random
order and visited round-robin, one sample of each subject per round, so the shots come from as many
different patients as the data allows. A sample is taken when it is a positive of a class that still
has fewer than k shots. A class with fewer than k eligible samples gets all of them ("class-balanced
where possible"); regression tasks take k samples in total. Samples whose subject appears in the
excluded set (the test split's subjects) are never eligible, so shots and test share no patient even
when a dataset's official split puts one patient on both sides.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from climb.schemas.tasks import Task


def one_vs_rest(task: Task, labels: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y [N, K] 0/1, known [N, K] bool): each class of a classification task as its own binary target.

    Args:
        labels: class index [N] (binary, multiclass) or 0/1 [N, K] (multilabel).
        mask: bool, the shape of labels.
    """
    k = len(task.classes)
    if task.type == "multilabel":
        return labels.astype(np.int64), mask.astype(bool)
    known = np.repeat(mask.astype(bool)[:, None], k, axis=1)
    return (labels.astype(np.int64)[:, None] == np.arange(k)[None]).astype(np.int64), known


def _rank(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A seeded random rank per distinct value, indexed like `values` (independent of their order)."""
    distinct, inverse = np.unique(values, return_inverse=True)
    return rng.permutation(len(distinct))[inverse]


def draw_order(subjects: np.ndarray, keys: np.ndarray, seed: int) -> np.ndarray:
    """Sample indices in drawing order: round r holds the r-th sample of every subject, subjects shuffled."""
    rng = np.random.default_rng(seed)
    subject_rank = _rank(subjects, rng)
    key_rank = _rank(keys, rng)
    # Within a subject, samples go by key_rank; round = position among the subject's samples.
    by_subject = np.lexsort((key_rank, subject_rank))
    rounds = np.empty(len(subjects), dtype=np.int64)
    sorted_ranks = subject_rank[by_subject]
    starts = np.searchsorted(sorted_ranks, sorted_ranks, side="left")
    rounds[by_subject] = np.arange(len(subjects)) - starts
    return np.lexsort((subject_rank, rounds))


def k_shot(task: Task, labels: np.ndarray, mask: np.ndarray, subjects: np.ndarray, keys: np.ndarray, k: int, seed: int,
           exclude_subjects: Iterable[str] = ()) -> np.ndarray:
    """Indices (sorted) of a k-per-class training set drawn from a pool of samples.

    Args:
        task: the task whose classes are balanced.
        labels, mask: the pool's labels and label masks (see one_vs_rest); regression: values [N].
        subjects: str [N], pseudonymized subject of each sample.
        keys: str [N], unique sample keys (they fix the order within a subject).
        k: shots per class (per task for regression).
        seed: selects the draw; the same seed gives the same shots.
        exclude_subjects: subjects that must not contribute (the test split's).
    """
    subjects, keys = np.asarray(subjects).astype(str), np.asarray(keys).astype(str)
    allowed = ~np.isin(subjects, np.asarray(list(exclude_subjects), dtype=str))
    order = draw_order(subjects, keys, seed)
    if task.type == "regression":
        eligible = [i for i in order if allowed[i] and mask[i]]
        return np.sort(np.asarray(eligible[:k], dtype=np.int64))
    y, known = one_vs_rest(task, labels, mask)
    positive = (y == 1) & known & allowed[:, None]
    # A class can get at most the eligible positives it has.
    target = np.minimum(positive.sum(0), k)
    counts = np.zeros(y.shape[1], dtype=np.int64)
    taken = []
    for i in order:
        if (counts >= target).all():
            break
        needed = positive[i] & (counts < target)
        if needed.any():
            taken.append(i)
            counts += positive[i]
    return np.sort(np.asarray(taken, dtype=np.int64))
