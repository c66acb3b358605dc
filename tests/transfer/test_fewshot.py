"""k-shot draws: deterministic, k per class where the data allows, spread over patients, never a test patient."""

import numpy as np
import pytest

from climb.schemas.tasks import get_task
from climb.trainer.fewshot import draw_order, k_shot

SLEEP = get_task("sleep_stage")  # multiclass, 5 classes
ECG = get_task("ecg_superclass")  # multilabel, 5 classes


def pool(n_subjects: int = 30, per_subject: int = 4, seed: int = 0):
    """Multiclass pool: every subject has `per_subject` samples of random stages."""
    rng = np.random.default_rng(seed)
    subjects = np.repeat([f"subject-{i:03d}" for i in range(n_subjects)], per_subject)
    keys = np.asarray([f"key-{i:04d}" for i in range(len(subjects))])
    labels = rng.integers(0, 5, len(subjects))
    return labels, np.ones(len(subjects), dtype=bool), subjects, keys


def test_the_same_seed_draws_the_same_shots_and_another_seed_others():
    labels, mask, subjects, keys = pool()
    first = k_shot(SLEEP, labels, mask, subjects, keys, k=5, seed=3)
    assert np.array_equal(first, k_shot(SLEEP, labels, mask, subjects, keys, k=5, seed=3))
    assert not np.array_equal(first, k_shot(SLEEP, labels, mask, subjects, keys, k=5, seed=4))


def test_the_draw_does_not_depend_on_the_order_the_pool_is_listed_in():
    labels, mask, subjects, keys = pool()
    perm = np.random.default_rng(9).permutation(len(keys))
    straight = set(keys[k_shot(SLEEP, labels, mask, subjects, keys, k=3, seed=1)])
    shuffled = set(keys[perm][k_shot(SLEEP, labels[perm], mask[perm], subjects[perm], keys[perm], k=3, seed=1)])
    assert straight == shuffled


@pytest.mark.parametrize("k", [1, 5, 10])
def test_every_class_gets_exactly_k_shots_when_the_pool_has_enough(k):
    labels, mask, subjects, keys = pool()
    picked = k_shot(SLEEP, labels, mask, subjects, keys, k=k, seed=0)
    assert np.bincount(labels[picked], minlength=5).tolist() == [k] * 5


def test_a_rare_class_gives_all_it_has_and_the_others_still_get_k():
    labels, mask, subjects, keys = pool()
    labels[labels == 4] = 3
    labels[:2] = 4  # two samples of class 4 in the whole pool
    counts = np.bincount(labels[k_shot(SLEEP, labels, mask, subjects, keys, k=5, seed=0)], minlength=5)
    assert counts.tolist() == [5, 5, 5, 5, 2]


def test_masked_samples_are_never_shots():
    labels, mask, subjects, keys = pool()
    mask[::2] = False
    picked = k_shot(SLEEP, labels, mask, subjects, keys, k=5, seed=0)
    assert mask[picked].all()


def test_shots_never_come_from_a_subject_of_the_test_split():
    labels, mask, subjects, keys = pool()
    test_subjects = {f"subject-{i:03d}" for i in range(0, 30, 2)}
    for seed in range(5):
        picked = k_shot(SLEEP, labels, mask, subjects, keys, k=5, seed=seed, exclude_subjects=test_subjects)
        assert not set(subjects[picked]) & test_subjects
        assert len(picked) == 25


def test_shots_come_from_as_many_patients_as_possible():
    subjects = np.repeat([f"s{i}" for i in range(10)], 6)  # 10 patients, 6 samples each, all class 2
    keys = np.asarray([f"k{i:02d}" for i in range(60)])
    labels = np.full(60, 2)
    picked = k_shot(SLEEP, labels, np.ones(60, bool), subjects, keys, k=10, seed=0)
    assert len(set(subjects[picked])) == 10


def test_draw_order_visits_every_subject_once_per_round():
    subjects = np.asarray(["a", "a", "a", "b", "c", "c"])
    order = draw_order(subjects, np.asarray(["1", "2", "3", "4", "5", "6"]), seed=0)
    assert sorted(order.tolist()) == list(range(6))
    assert set(subjects[order[:3]]) == {"a", "b", "c"}
    assert set(subjects[order[3:5]]) == {"a", "c"}


def test_multilabel_shots_give_each_class_at_least_k_positives_where_possible():
    rng = np.random.default_rng(1)
    labels = (rng.random((200, 5)) < [0.5, 0.2, 0.2, 0.1, 0.03]).astype(np.float32)
    mask = np.ones_like(labels, dtype=bool)
    subjects = np.asarray([f"p{i // 2}" for i in range(200)])
    keys = np.asarray([f"k{i:03d}" for i in range(200)])
    picked = k_shot(ECG, labels, mask, subjects, keys, k=4, seed=0)
    available = labels.sum(0)
    assert (labels[picked].sum(0) >= np.minimum(available, 4)).all()


def test_regression_takes_k_samples_in_total():
    lvef = get_task("lvef")
    values = np.linspace(20, 70, 40)
    subjects = np.asarray([f"p{i}" for i in range(40)])
    picked = k_shot(lvef, values, np.ones(40, bool), subjects, subjects, k=7, seed=0)
    assert len(picked) == 7 and len(set(subjects[picked])) == 7
