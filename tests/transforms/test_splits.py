"""Split assignment is grouped by subject, deterministic, order-free and honours official splits."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from climb.transforms import splits
from climb.transforms.phi import DEMO_KEY, pseudonymize
from climb.transforms.splits import DEFAULT_FRACTIONS, assign_split, check_fractions, normalise_official, order_key

subject_ids = st.text(alphabet="0123456789abcdef", min_size=8, max_size=24)
salts = st.text(min_size=1, max_size=12)


@st.composite
def fraction_maps(draw) -> dict[str, float]:
    """Three split fractions that sum to 1, each at least 5%."""
    a = draw(st.integers(5, 90))
    b = draw(st.integers(5, 95 - a))
    return {"train": a / 100, "val": b / 100, "test": (100 - a - b) / 100}


def assign_all(records: list[tuple[str, str]], salt: str, fractions=DEFAULT_FRACTIONS) -> dict[str, str]:
    """sample id -> split for (sample id, subject id) records, as the pipeline assigns them."""
    return {sample: assign_split(subject, salt, fractions) for sample, subject in records}


@settings(max_examples=50, deadline=None)
@given(
    subjects=st.lists(subject_ids, min_size=1, max_size=30, unique=True),
    samples_per_subject=st.lists(st.integers(1, 5), min_size=30, max_size=30),
    salt=salts,
    fractions=fraction_maps(),
)
def test_no_subject_is_in_two_splits(subjects, samples_per_subject, salt, fractions):
    records = [(f"{s}/{i}", s) for s, n in zip(subjects, samples_per_subject) for i in range(n)]
    assigned = assign_all(records, salt, fractions)
    splits_of = defaultdict(set)
    for sample, subject in records:
        splits_of[subject].add(assigned[sample])
    assert all(len(found) == 1 for found in splits_of.values())


@settings(max_examples=50, deadline=None)
@given(
    records=st.lists(st.tuples(subject_ids, subject_ids), min_size=1, max_size=40, unique_by=lambda r: r[0]),
    salt=salts,
    data=st.data(),
)
def test_stable_under_any_permutation_of_the_input(records, salt, data):
    shuffled = data.draw(st.permutations(records))
    assert assign_all(shuffled, salt) == assign_all(records, salt)


@settings(max_examples=50, deadline=None)
@given(
    existing=st.lists(subject_ids, min_size=1, max_size=30, unique=True),
    added=st.lists(subject_ids, min_size=1, max_size=30, unique=True),
    salt=salts,
    fractions=fraction_maps(),
)
def test_adding_unrelated_subjects_moves_no_existing_subject(existing, added, salt, fractions):
    before = assign_all([(s, s) for s in existing], salt, fractions)
    after = assign_all([(s, s) for s in existing + added], salt, fractions)
    assert {s: after[s] for s in existing} == before


SUBJECTS_10K = [pseudonymize(f"PAT{i:06d}", DEMO_KEY) for i in range(10_000)]


@settings(max_examples=10, deadline=None)
@given(fractions=fraction_maps(), salt=salts)
def test_fractions_hold_within_tolerance_on_10k_subjects(fractions, salt):
    counts = Counter(assign_split(s, salt, fractions) for s in SUBJECTS_10K)
    for name, frac in fractions.items():
        # 5 binomial standard deviations: a correct hash fails this about once in 3 million runs
        tolerance = 5 * math.sqrt(frac * (1 - frac) / len(SUBJECTS_10K))
        assert abs(counts[name] / len(SUBJECTS_10K) - frac) <= tolerance, (name, counts)


def test_different_salts_give_independent_splits():
    a = [assign_split(s, "salt-a") for s in SUBJECTS_10K[:2000]]
    b = [assign_split(s, "salt-b") for s in SUBJECTS_10K[:2000]]
    agreement = sum(x == y for x, y in zip(a, b)) / len(a)
    # independent 80/10/10 draws agree with probability 0.8^2 + 2 * 0.1^2 = 0.66
    assert 0.6 < agreement < 0.72


@pytest.mark.parametrize(
    "official, expected",
    [("train", "train"), ("TRAIN", "train"), ("validation", "val"), ("valid", "val"), ("dev", "val"), ("test", "test"), ("eval", "test")],
)
def test_official_split_wins_over_the_hash(official, expected):
    for subject in SUBJECTS_10K[:50]:
        assert assign_split(subject, "climb", official=official) == expected


def test_unknown_official_split_is_refused():
    with pytest.raises(ValueError, match="unknown official split 'holdout'"):
        normalise_official("holdout")


def test_official_split_ignores_the_fractions():
    assert assign_split(SUBJECTS_10K[0], "climb", fractions={"train": 1.0}, official="test") == "test"


@pytest.mark.parametrize(
    "fractions, message",
    [
        ({}, "empty"),
        ({"train": 0.9, "val": 0.2, "test": -0.1}, "non-negative"),
        ({"train": 0.8, "val": 0.1}, "sum to 1"),
        ({"train": 0.8, "val": 0.1, "test": 0.2}, "sum to 1"),
        ({"train": float("nan"), "val": 0.5, "test": 0.5}, "finite"),
        ({"train": float("inf"), "val": 0.0}, "finite"),
        ({"train": "0.8", "val": 0.2}, "finite"),
    ],
    ids=["empty", "negative", "short", "over", "nan", "inf", "string"],
)
def test_bad_fractions_are_rejected(fractions, message):
    with pytest.raises(ValueError, match=message):
        check_fractions(fractions)
    with pytest.raises(ValueError, match=message):
        assign_split(SUBJECTS_10K[0], "climb", fractions)


def test_a_split_with_zero_fraction_gets_no_subject_even_above_the_last_edge(monkeypatch):
    # fractions may fall short of 1 by the check's tolerance; a hash landing in that sliver
    # must go to the last split that has a share, not to an empty one
    monkeypatch.setattr(splits, "unit_interval", lambda *parts: 0.99999999)
    assert assign_split("any", "climb", {"train": 0.9, "val": 0.0999995, "test": 0.0}) == "val"


def test_fraction_mapping_order_is_the_bin_order():
    only_test = {"test": 1.0, "train": 0.0}
    assert {assign_split(s, "climb", only_test) for s in SUBJECTS_10K[:200]} == {"test"}


def test_order_key_is_a_salted_sha256_hex():
    assert order_key("climb", "k1") == order_key("climb", "k1")
    assert order_key("climb", "k1") != order_key("other", "k1")
    assert len(order_key("climb", "k1")) == 64
