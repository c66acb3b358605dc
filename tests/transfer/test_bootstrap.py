"""Bootstrap intervals resample subjects: duplicating a patient's samples adds no evidence."""

import numpy as np
import pytest

from climb.trainer.bootstrap import subject_bootstrap, subject_groups


def mae_statistic(errors):
    return lambda idx: {"mae": float(np.abs(errors[idx]).mean())}


def test_groups_hold_every_sample_of_each_subject():
    groups = subject_groups(np.asarray(["b", "a", "b", "c", "a"]))
    assert [g.tolist() for g in groups] == [[1, 4], [0, 2], [3]]


def test_copies_of_a_subjects_samples_leave_the_interval_unchanged():
    rng = np.random.default_rng(0)
    errors = rng.normal(0, 1, 30)
    subjects = np.asarray([f"p{i}" for i in range(30)])
    once = subject_bootstrap(subjects, mae_statistic(errors), replicates=500, seed=1)
    # Every patient now has 10 identical samples: ten times the rows, the same 30 patients.
    copies = subject_bootstrap(np.repeat(subjects, 10), mae_statistic(np.repeat(errors, 10)), replicates=500, seed=1)
    assert once["mae"]["low"] == pytest.approx(copies["mae"]["low"], abs=1e-12)
    assert once["mae"]["high"] == pytest.approx(copies["mae"]["high"], abs=1e-12)


def test_resampling_samples_instead_would_shrink_the_interval():
    rng = np.random.default_rng(0)
    errors = np.repeat(rng.normal(0, 1, 30), 10)
    by_subject = subject_bootstrap(np.repeat([f"p{i}" for i in range(30)], 10), mae_statistic(errors), replicates=500)
    by_sample = subject_bootstrap(np.asarray([f"row{i}" for i in range(300)]), mae_statistic(errors), replicates=500)
    width = lambda ci: ci["mae"]["high"] - ci["mae"]["low"]  # noqa: E731
    assert width(by_sample) < 0.5 * width(by_subject)


def test_the_same_seed_gives_the_same_interval_and_undefined_replicates_are_counted():
    subjects = np.asarray([f"p{i}" for i in range(12)])
    labels = np.asarray([0] * 11 + [1])

    def statistic(idx):  # undefined unless the one positive subject is drawn
        return {"rate": float(labels[idx].mean()) if labels[idx].any() else None}

    first = subject_bootstrap(subjects, statistic, replicates=200, seed=5)
    assert first == subject_bootstrap(subjects, statistic, replicates=200, seed=5)
    assert 0 < first["rate"]["replicates"] < 200
