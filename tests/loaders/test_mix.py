"""MixedDataset: deterministic weighted mixing of two converted datasets, exact partition and resume."""

from __future__ import annotations


import pytest

from climb.loaders import ClimbDataset, MixedDataset
from tests.loaders.conftest import split_keys

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")


def parts(dataset, small_dataset):
    return [ClimbDataset(str(dataset), split="train", modalities=("signal",)),
            ClimbDataset(str(small_dataset), split="train", modalities=("image",))]


def keys(ds):
    return [s["__key__"] for s in ds]


def test_weights_set_the_share_of_each_dataset_exactly(dataset, small_dataset):
    big, small = set(split_keys(dataset, "train")), set(split_keys(small_dataset, "train"))
    mix = MixedDataset(parts(dataset, small_dataset), weights=[1, 1], samples_per_epoch=60)
    got = keys(mix)
    assert len(got) == 60
    assert sum(k in big for k in got) == 30 and sum(k in small for k in got) == 30
    assert len(set(k for k in got if k in small)) == len(small)


def test_a_small_dataset_is_recycled_in_a_fresh_order_not_truncated(dataset, small_dataset):
    small = split_keys(small_dataset, "train")
    mix = MixedDataset(parts(dataset, small_dataset), weights=[1, 3], samples_per_epoch=80)
    got = [k for k in keys(mix) if k in set(small)]
    assert len(got) == 60
    passes = [got[i:i + len(small)] for i in range(0, 2 * len(small), len(small))]
    assert sorted(passes[0]) == sorted(passes[1]) == sorted(small)
    assert passes[0] != passes[1]


def test_temperature_one_follows_sizes_and_labels_are_the_union_masked_per_dataset(dataset, small_dataset):
    mix = MixedDataset(parts(dataset, small_dataset), temperature=1.0)
    assert len(mix) == 97 + len(split_keys(small_dataset, "train"))
    batch = next(iter(mix.loader(batch_size=40)))
    assert set(batch["labels"]) == {"eeg_abnormal", "sleep_stage", "ecg_harmonized", "length_of_stay"}
    assert "signal_present" in batch and "image_present" in batch
    assert not (batch["signal_present"] & batch["image_present"]).any()


def test_two_ranks_split_the_mix_exactly_and_resume_on_one_rank(dataset, small_dataset):
    def make(rank, ranks):
        return MixedDataset(parts(dataset, small_dataset), weights=[2, 1], samples_per_epoch=50, seed=4,
                            rank=rank, world_size=ranks, tail="drop")

    full = []
    for r in range(2):
        ds = make(r, 2)
        ds.set_epoch(2)
        full.append([k for b in ds.loader(batch_size=5, num_workers=2) for k in b["__key__"]])
    assert len(full[0]) == len(full[1]) == 25
    global_order = [full[i % 2][i // 2] for i in range(50)]
    first = make(0, 2)
    first.set_epoch(2)
    it = iter(first.loader(batch_size=5, num_workers=2))
    consumed = [k for _, b in zip(range(2), it) for k in b["__key__"]]
    it.close()
    state = first.state_dict()
    assert state["samples_seen"] == 20 and consumed == full[0][:10]
    resumed = make(0, 1)
    resumed.load_state_dict(state)
    assert keys(resumed) == global_order[20:]
    single = make(0, 1)  # the epoch again from its start, with the shuffle the 2 ranks had
    single.load_state_dict({**state, "samples_seen": 0})
    assert keys(single) == global_order


def test_mixing_requires_a_consistent_configuration(dataset, small_dataset):
    with pytest.raises(ValueError, match="not both"):
        MixedDataset(parts(dataset, small_dataset), weights=[1, 1], temperature=2.0)
    with pytest.raises(ValueError, match="weights for"):
        MixedDataset(parts(dataset, small_dataset), weights=[1])
