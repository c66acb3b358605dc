"""Metrics: rank-based AUROC with ties, macro-F1, MAE, all over labelled entries; undefined -> None."""

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from climb.schemas.tasks import Task, get_task
from climb.trainer.metrics import auroc, average_ranks, macro_f1, mae, task_metrics


def test_average_ranks_share_ties():
    assert average_ranks(np.array([0.3, 0.1, 0.3, 0.2])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_auroc_of_perfect_reversed_and_tied_scores():
    labels = np.array([0, 0, 1, 1])
    assert auroc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert auroc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    assert auroc(np.full(4, 0.5), labels) == 0.5


def test_auroc_equals_the_mann_whitney_statistic_with_many_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 200).astype(float)  # five distinct values: ties everywhere
    labels = (rng.random(200) < 0.3).astype(int)
    u = mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
    assert auroc(scores, labels) == pytest.approx(u / (labels.sum() * (200 - labels.sum())))


def test_auroc_with_one_class_is_none():
    assert auroc(np.array([0.2, 0.7]), np.array([1, 1])) is None


def test_macro_f1_averages_the_classes_that_occur():
    true = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0])
    # F1 per class: 0 -> 2*1/(2+2)=0.5, 1 -> 2*2/(3+2)=0.8, 2 -> 0
    assert macro_f1(pred, true) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_mae_and_empty_mae():
    assert mae(np.array([1.0, 4.0]), np.array([2.0, 2.0])) == 1.5
    assert mae(np.array([]), np.array([])) is None


def test_binary_metrics_use_only_labelled_samples():
    scores = np.array([0.9, 0.1, 0.8, 0.2])
    labels = np.array([1, 1, 0, 0])
    mask = np.array([True, False, False, True])
    out = task_metrics(get_task("eeg_abnormal"), scores, labels, mask)
    assert out == {"auroc": 1.0, "macro_f1": 1.0, "n": 2}


def test_multiclass_metrics_are_one_vs_rest_auroc_and_argmax_f1():
    scores = np.array([[0.8, 0.1, 0.1, 0, 0], [0.1, 0.8, 0.1, 0, 0], [0.1, 0.1, 0.8, 0, 0]])
    out = task_metrics(get_task("sleep_stage"), scores, np.array([0, 1, 2]), np.array([True, True, True]))
    assert out["auroc"] == 1.0  # classes 3 and 4 never occur: left out, not counted as 0.5
    assert out["macro_f1"] == 1.0


def test_multilabel_metrics_mask_per_class():
    task = Task(name="two_findings", type="multilabel", classes=("a", "b"))
    scores = np.array([[0.9, 0.2], [0.1, 0.7], [0.8, 0.6]])
    labels = np.array([[1, 0], [0, 1], [1, 0]])
    mask = np.array([[True, True], [True, True], [True, False]])
    out = task_metrics(task, scores, labels, mask)
    assert out == {"auroc": 1.0, "macro_f1": 1.0, "n": 3}


def test_regression_metric_is_masked_mae():
    task = Task(name="score", type="regression")
    out = task_metrics(task, np.array([1.0, 5.0, 2.0]), np.array([2.0, 0.0, 2.0]), np.array([True, False, True]))
    assert out == {"mae": 0.5, "n": 2}
