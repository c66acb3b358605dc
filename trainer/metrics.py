"""Validation metrics computed over labelled entries only: AUROC, macro-F1, MAE (numpy, no sklearn).

A metric that is undefined on the data (AUROC with one class present, F1 with no labelled entry) is
None, never a made-up 0.5 or 0: a small validation split of a rare class should read as "unknown".
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from climb.schemas.tasks import Task


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of `x` [N]; tied values share the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    _, first, counts = np.unique(x[order], return_index=True, return_counts=True)
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


def auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties count one half).

    Args:
        scores: float [N], higher = more positive.
        labels: 0/1 [N].

    Returns:
        AUROC in [0, 1], or None when only one class is present.
    """
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = average_ranks(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _f1(pred: np.ndarray, true: np.ndarray) -> float | None:
    """F1 of the positive class of boolean arrays; None when there is neither a positive nor a prediction."""
    tp = int((pred & true).sum())
    denominator = int(pred.sum()) + int(true.sum())
    return None if denominator == 0 else 2 * tp / denominator


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def macro_f1(pred: np.ndarray, true: np.ndarray) -> float | None:
    """Mean F1 over the classes that occur in `true` or `pred` (class indices [N])."""
    classes = np.union1d(pred, true)
    return _mean([_f1(pred == c, true == c) for c in classes])


def mae(pred: np.ndarray, true: np.ndarray) -> float | None:
    """Mean absolute error; None for no labelled entry."""
    return float(np.abs(pred - true).mean()) if len(true) else None


def task_metrics(task: Task, scores: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> dict[str, float | int | None]:
    """Metrics of one task over labelled entries.

    Args:
        scores: from `heads.predict`: [N] for binary (P(positive)) and regression, [N, K] otherwise.
        labels: [N] (class index for multiclass) or [N, K] for multilabel.
        mask: bool, shape of labels.

    Returns:
        binary/multiclass/multilabel: auroc (macro over classes for K > 2), macro_f1 (threshold 0.5 or
        argmax), n; regression: mae, n. n = labelled samples.
    """
    mask = mask.astype(bool)
    if task.type == "multilabel":
        per_class = [(scores[mask[:, k], k], labels[mask[:, k], k].astype(bool)) for k in range(labels.shape[1])]
        return {
            "auroc": _mean([auroc(s, y) for s, y in per_class]),
            "macro_f1": _mean([_f1(s >= 0.5, y) for s, y in per_class]),
            "n": int(mask.any(1).sum()),
        }
    scores, labels = scores[mask], labels[mask]
    if task.type == "regression":
        return {"mae": mae(scores, labels.astype(np.float64)), "n": len(labels)}
    labels = labels.astype(np.int64)
    if task.type == "binary":
        return {"auroc": auroc(scores, labels), "macro_f1": macro_f1((scores >= 0.5).astype(np.int64), labels), "n": len(labels)}
    one_vs_rest = [auroc(scores[:, k], labels == k) for k in range(scores.shape[1])]
    return {"auroc": _mean(one_vs_rest), "macro_f1": macro_f1(scores.argmax(1), labels), "n": len(labels)}


class MetricAccumulator:
    """Collects scores, labels and masks per task over evaluation batches, then computes `task_metrics`."""

    def __init__(self, tasks: dict[str, Task]) -> None:
        self.tasks = tasks
        self.parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = defaultdict(list)

    def update(self, name: str, scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> None:
        self.parts[name].append((scores.detach().float().cpu().numpy(), labels.cpu().numpy(), mask.cpu().numpy()))

    def compute(self) -> dict[str, dict[str, float | int | None]]:
        out = {}
        for name, parts in self.parts.items():
            scores, labels, mask = (np.concatenate(p) for p in zip(*parts))
            out[name] = task_metrics(self.tasks[name], scores, labels, mask)
        return out
