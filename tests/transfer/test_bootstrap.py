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


def test_the_spread_of_shot_draws_is_inside_a_seeded_interval():
    from climb.trainer.bootstrap import seed_bootstrap

    rng = np.random.default_rng(0)
    subjects = np.asarray([f"p{i}" for i in range(400)])
    errors = rng.normal(0, 1, 400)
    offsets = np.asarray([0.0, 0.6, 1.2])  # three shot draws that land far apart

    def per_seed(idx, seed):
        return {"mae": float(np.abs(errors[idx] + offsets[seed]).mean())}

    def averaged_inside(idx):  # what the interval used to be: seeds averaged in every replicate
        return {"mae": float(np.mean([per_seed(idx, s)["mae"] for s in range(3)]))}

    seeded = seed_bootstrap(subjects, per_seed, n_seeds=3, replicates=400, seed=1)
    inside = subject_bootstrap(subjects, averaged_inside, replicates=400, seed=1)
    width = lambda ci: ci["mae"]["high"] - ci["mae"]["low"]  # noqa: E731
    assert width(seeded) > 3 * width(inside)


def test_a_paired_difference_is_exact_where_two_separate_intervals_overlap():
    from climb.trainer.bootstrap import paired_bootstrap, seed_bootstrap

    rng = np.random.default_rng(0)
    subjects = np.asarray([f"p{i}" for i in range(60)])
    hard = rng.uniform(0, 2, 60)  # per-patient difficulty, shared by both encoders

    def first(idx, seed):
        return {"mae": float(hard[idx].mean())}

    def second(idx, seed):
        return {"mae": float(hard[idx].mean()) + 0.05}  # the second is always a little worse

    separate = [seed_bootstrap(subjects, f, 2, replicates=300)["mae"] for f in (first, second)]
    assert separate[0]["high"] > separate[1]["low"]  # overlapping intervals: "no difference" if read apart
    paired = paired_bootstrap(subjects, first, second, 2, replicates=300)["mae"]
    assert paired["low"] == pytest.approx(-0.05) and paired["high"] == pytest.approx(-0.05)
    assert paired["share_not_above_zero"] == 1.0
