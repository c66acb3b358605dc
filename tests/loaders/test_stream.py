"""ClimbDataset under DDP-like worlds: 2 ranks (simulated in-process) x 3 real DataLoader workers."""

from __future__ import annotations

from collections import Counter

import pytest

from climb.loaders import ClimbDataset
from climb.loaders.plan import World, partition
from tests.loaders.conftest import split_keys

RANKS, WORKERS, BATCH = 2, 3, 4
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")


def rank_keys(dataset, rank, ranks=RANKS, workers=WORKERS, epoch=0, tail="drop", seed=0, batch=BATCH):
    ds = ClimbDataset(str(dataset), split="train", seed=seed, rank=rank, world_size=ranks, tail=tail)
    ds.set_epoch(epoch)
    return [k for b in ds.loader(batch_size=batch, num_workers=workers) for k in b["__key__"]], len(ds)


@pytest.fixture(scope="module")
def runs(dataset):
    """Each rank's key stream for a few (tail, epoch, seed) settings: {setting: [(keys, len)] per rank}."""
    settings = {"drop0": ("drop", 0, 0), "drop0again": ("drop", 0, 0), "drop1": ("drop", 1, 0), "wrap0": ("wrap", 0, 0)}
    return {name: [rank_keys(dataset, r, tail=t, epoch=e, seed=s) for r in range(RANKS)] for name, (t, e, s) in settings.items()}


def test_drop_reads_every_sample_at_most_once_and_drops_only_the_odd_one(runs, dataset):
    everything = [k for keys, _ in runs["drop0"] for k in keys]
    assert len(everything) == len(set(everything))
    train = split_keys(dataset, "train")
    assert len(train) == 97
    assert set(everything) <= set(train)
    assert len(everything) == 96


def test_every_rank_gets_the_same_count_with_both_tail_policies(runs):
    for name in ("drop0", "wrap0"):
        counts = {len(keys) for keys, _ in runs[name]}
        lengths = {n for _, n in runs[name]}
        assert counts == lengths and len(counts) == 1, name
    assert runs["drop0"][0][1] == 48 and runs["wrap0"][0][1] == 49


def test_wrap_reads_everything_and_repeats_exactly_the_declared_padding(runs, dataset):
    everything = Counter(k for keys, _ in runs["wrap0"] for k in keys)
    assert set(everything) == set(split_keys(dataset, "train"))
    padding = partition(97, 0, World(0, RANKS), BATCH, "wrap").padding
    assert padding == 1
    assert sum(everything.values()) == 97 + padding
    assert [n for n in everything.values() if n > 1] == [2]


def test_same_seed_and_epoch_give_the_same_order_another_epoch_another(runs):
    assert runs["drop0"] == runs["drop0again"]
    assert runs["drop0"][0][0] != runs["drop1"][0][0]


def test_workers_do_not_change_what_a_rank_reads(runs, dataset):
    """The rank stream with 3 workers equals the in-process stream (num_workers=0)."""
    for rank in range(RANKS):
        keys, _ = rank_keys(dataset, rank, workers=0)
        assert keys == runs["drop0"][rank][0]


def test_leaving_an_iteration_early_releases_threads_and_descriptors(dataset, tmp_path):
    import os
    import threading

    ds = ClimbDataset(str(dataset), split="train", cache_dir=str(tmp_path / "cache"))
    before = (threading.active_count(), len(os.listdir("/proc/self/fd")))
    for _ in range(3):
        it = iter(ds)
        next(it)
        it.close()
    assert (threading.active_count(), len(os.listdir("/proc/self/fd"))) == before


def test_an_index_that_differs_from_the_manifests_hash_is_refused(dataset, tmp_path):
    import json
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    shard = next(s for s in json.loads((copy / "manifest.json").read_text())["shards"] if s["split"] == "train")
    index = json.loads((copy / shard["index"]).read_text())
    first, second = index["samples"][0], index["samples"][1]
    first["key"], second["key"] = second["key"], first["key"]  # valid ranges, wrong samples
    (copy / shard["index"]).write_text(json.dumps(index))
    with pytest.raises(ValueError, match="index_sha256"):
        list(ClimbDataset(str(copy), split="train", shuffle=False))


def test_an_epoch_ends_with_its_last_batch_and_its_workers_exit_behind_it(dataset, monkeypatch):
    """The caller goes on while the workers exit: torch shuts them down on a thread of climb's."""
    import threading

    from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

    shut_down_on = []
    original = _MultiProcessingDataLoaderIter._shutdown_workers

    def recording(self):
        shut_down_on.append(threading.current_thread().name)
        original(self)

    monkeypatch.setattr(_MultiProcessingDataLoaderIter, "_shutdown_workers", recording)
    ds = ClimbDataset(str(dataset), split="train", seed=3)
    loader = ds.loader(batch_size=4, num_workers=2)
    keys = [k for b in loader for k in b["__key__"]]
    loader.wait_for_workers()
    assert sorted(keys) == sorted(split_keys(dataset, "train"))
    assert shut_down_on[0] == "climb-loader-shutdown"
    assert not [t for t in threading.enumerate() if t.name == "climb-loader-shutdown"]
    assert ds.state_dict()["samples_seen"] == len(keys)


def test_a_collate_of_the_callers_own_ends_where_torch_ends_and_loses_nothing(dataset):
    """Its batches need not say how many samples they hold (here more keys than samples)."""
    def by_field(samples):
        return {f"field{i}": i for i in range(9)} | {"keys": [s["__key__"] for s in samples]}

    ds = ClimbDataset(str(dataset), split="train", seed=3)
    keys = [k for b in ds.loader(batch_size=4, num_workers=2, collate_fn=by_field) for k in b["keys"]]
    assert sorted(keys) == sorted(split_keys(dataset, "train"))


def batches_of(loader) -> list[dict]:
    """Each batch's keys and signal values, copied out (so no batch keeps its slab)."""
    return [{"keys": list(b["__key__"]), "signal": b["signal"].clone() if "signal" in b else None} for b in loader]


def assert_same(got, want):
    assert [b["keys"] for b in got] == [b["keys"] for b in want]
    assert all(w["signal"] is None if g["signal"] is None else g["signal"].equal(w["signal"]) for g, w in zip(got, want))


def test_persistent_workers_read_each_epoch_as_fresh_workers_would(dataset):
    """The same worker processes serve every epoch: they learn the epoch from the loader's arena."""
    ds = ClimbDataset(str(dataset), split="train", seed=3, modalities=("signal",))
    loader = ds.loader(batch_size=4, num_workers=2, persistent_workers=True)
    fresh = ClimbDataset(str(dataset), split="train", seed=3, modalities=("signal",))
    pids = set()
    for epoch in range(3):
        ds.set_epoch(epoch)
        fresh.set_epoch(epoch)
        assert_same(batches_of(loader), batches_of(fresh.loader(batch_size=4, num_workers=2)))
        pids.add(tuple(w.pid for w in loader._iterator._workers))
    assert len(pids) == 1


def test_persistent_workers_resume_mid_epoch_and_recover_from_an_epoch_left_early(dataset):
    ds = ClimbDataset(str(dataset), split="train", seed=3, modalities=("signal",))
    loader = ds.loader(batch_size=4, num_workers=2, persistent_workers=True)
    for n, _ in enumerate(loader):
        if n == 3:
            break
    state = ds.state_dict()
    ds.load_state_dict(state)
    rest = batches_of(loader)
    fresh = ClimbDataset(str(dataset), split="train", seed=3, modalities=("signal",))
    fresh.load_state_dict(state)
    assert_same(rest, batches_of(fresh.loader(batch_size=4, num_workers=2)))
    ds.set_epoch(1)
    fresh.set_epoch(1)
    assert_same(batches_of(loader), batches_of(fresh.loader(batch_size=4, num_workers=2)))


def test_persistent_spawned_workers_read_each_epoch_as_fresh_workers_would(dataset):
    """A spawned worker gets the arena once, with its file descriptor, and reads each epoch from it."""
    ds = ClimbDataset(str(dataset), split="train", seed=3, modalities=("signal",))
    loader = ds.loader(batch_size=8, num_workers=1, persistent_workers=True, multiprocessing_context="spawn")
    fresh = ClimbDataset(str(dataset), split="train", seed=3, modalities=("signal",))
    for epoch in range(2):
        ds.set_epoch(epoch)
        fresh.set_epoch(epoch)
        assert_same(batches_of(loader), batches_of(fresh.loader(batch_size=8, num_workers=0)))
