"""Worker batches cross in reused shared-memory slabs without ever changing what the caller sees."""

from __future__ import annotations

import pytest
import torch

from climb.loaders import ClimbDataset, transfer
from climb.loaders.collate import collate
from climb.loaders.transfer import SLAB_KEY

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")


def tensors(tree, prefix=""):
    """{path: tensor} of every tensor in a batch's nested dicts."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, torch.Tensor):
            out[prefix + key] = value
        elif isinstance(value, dict):
            out.update(tensors(value, prefix + key + "/"))
    return out


def arena_slab(tensor: torch.Tensor) -> tuple[int, int] | None:
    """(inode of the arena, slab number) holding a tensor's bytes, or None when they are not in an
    arena (from /proc/self/maps: the arena is one mapping of a "climb-slabs" memfd from offset 0)."""
    address = tensor.data_ptr()
    with open("/proc/self/maps") as maps:
        for line in maps:
            span, _, offset, _, inode, *path = line.split()
            start, end = (int(x, 16) for x in span.split("-"))
            if start <= address < end:
                if not path or "climb-slabs" not in path[0]:
                    return None
                return int(inode), (address - start + int(offset, 16)) // transfer.SLOT_BYTES  # the header is < a slab
    raise AssertionError("tensor is not in any mapping")


def slabs_of(batch) -> set[tuple[int, int] | None]:
    return {arena_slab(t) for t in tensors(batch).values() if t.numel()}


def assert_same_batches(got, want):
    assert [b["__key__"] for b in got] == [b["__key__"] for b in want]
    for g, w in zip(got, want):
        assert SLAB_KEY not in g
        got_t, want_t = tensors(g), tensors(w)
        assert got_t.keys() == want_t.keys()
        for path, value in want_t.items():
            assert got_t[path].dtype == value.dtype and torch.equal(got_t[path], value), path


def test_kept_batches_from_two_workers_equal_the_in_process_batches(dataset):
    """Holding every batch leaves workers without free slabs: nothing may be overwritten meanwhile."""
    ds = ClimbDataset(str(dataset), split="train", seed=5)
    assert_same_batches(list(ds.loader(batch_size=8, num_workers=2)), list(ds.loader(batch_size=8, num_workers=0)))


def test_a_batch_is_one_slab_and_dropped_batches_give_their_slab_back(dataset):
    """Each batch crosses in one slab of the arena; a worker cycles through at most
    prefetch_factor + 2 of them while the caller drops each batch in turn."""
    ds = ClimbDataset(str(dataset), split="train", seed=5, modalities=("signal",))
    slabs = []
    for batch in ds.loader(batch_size=4, num_workers=1, prefetch_factor=2):
        inside = slabs_of(batch)
        assert len(inside) == 1 and None not in inside
        slabs += inside
    assert len(slabs) == 25
    assert 1 < len(set(slabs)) <= 2 + 2


def test_a_batch_is_collated_inside_its_slab_and_crosses_unchanged():
    """collate builds the batch in shared memory instead of building it elsewhere and copying it in."""
    samples = [{"__key__": f"k{i}", "meta": {}, "image": torch.full((16, 16), i, dtype=torch.uint8), "signal": torch.rand(2, 50)}
               for i in range(4)]
    expected = collate(samples)
    board = transfer.Board(1, 4)
    transfer.install(board.start(0, 0, None), 0)
    try:
        transfer._pool.begin()
        built = collate(samples)
        slab = transfer._pool.slabs[0]
        for name in ("image", "signal"):
            assert slab.data_ptr() <= built[name].data_ptr() < slab.data_ptr() + transfer.SLOT_BYTES
        received = board.receive(transfer._pool.pack(built))
    finally:
        transfer.install(None, 0)
    assert set(tensors(received)) == set(tensors(expected))
    for path, tensor in tensors(expected).items():
        assert torch.equal(tensors(received)[path], tensor), path


def test_later_epochs_reuse_the_loaders_arena(dataset):
    """The next epoch's workers write into the pages the last epoch's allocated."""
    ds = ClimbDataset(str(dataset), split="train", seed=5, modalities=("signal",))
    loader = ds.loader(batch_size=4, num_workers=1)
    arenas = []
    for epoch in range(2):
        ds.set_epoch(epoch)
        arenas.append({inode for batch in loader for inode, _ in slabs_of(batch)})
    assert len(arenas[0]) == 1 and arenas[0] == arenas[1]


def test_a_batch_kept_from_one_epoch_survives_the_next_epoch(dataset):
    """Its slab stays lent: the next epoch's workers leave it alone until the batch is dropped."""
    ds = ClimbDataset(str(dataset), split="train", seed=5, modalities=("signal",))
    loader = ds.loader(batch_size=4, num_workers=1, prefetch_factor=2)
    kept = next(iter(loader))
    snapshot = {path: t.clone() for path, t in tensors(kept).items()}
    ds.set_epoch(1)
    later = set()
    for batch in loader:
        later |= slabs_of(batch)
    assert slabs_of(kept).isdisjoint(later)
    for path, value in snapshot.items():
        assert torch.equal(tensors(kept)[path], value), path


def test_an_epoch_left_early_hands_its_arena_to_the_next(dataset):
    """Breaking out of the loop shuts that epoch's workers down; the next epoch's batches are whole."""
    ds = ClimbDataset(str(dataset), split="train", seed=5, modalities=("signal",))
    loader = ds.loader(batch_size=4, num_workers=2)
    for batch in loader:
        first = {inode for inode, _ in slabs_of(batch)}
        break
    got, slabs = received(loader)
    assert {inode for inside in slabs for inode, _ in inside} == first
    assert_same_batches(got, list(ds.loader(batch_size=4, num_workers=0)))


def test_a_copied_loader_makes_its_own_arena(dataset):
    import copy

    ds = ClimbDataset(str(dataset), split="train", seed=5, modalities=("signal",))
    loader = ds.loader(batch_size=4, num_workers=1)
    ours = {inode for batch in loader for inode, _ in slabs_of(batch)}
    twin = copy.deepcopy(loader)
    assert {inode for batch in twin for inode, _ in slabs_of(batch)}.isdisjoint(ours)


def test_two_iterations_open_at_once_never_share_an_arena(dataset):
    ds = ClimbDataset(str(dataset), split="train", seed=5, modalities=("signal",))
    loader = ds.loader(batch_size=4, num_workers=1)
    first, second = iter(loader), iter(loader)
    a, b = next(first), next(second)
    assert {inode for inode, _ in slabs_of(a)}.isdisjoint({inode for inode, _ in slabs_of(b)})
    assert torch.equal(a["signal"], b["signal"])


def received(loader) -> tuple[list[dict], list[set]]:
    """Copies of a loader's batches and the slabs each crossed in, each batch dropped in turn."""
    copies, slabs = [], []
    for batch in loader:
        slabs.append(slabs_of(batch))
        copies.append(cloned(batch))
    return copies, slabs


def cloned(tree: dict) -> dict:
    return {k: v.clone() if isinstance(v, torch.Tensor) else cloned(v) if isinstance(v, dict) else v for k, v in tree.items()}


def test_spawned_workers_receive_the_arena(dataset):
    """A spawned worker gets the arena's file descriptor instead of inheriting its mapping."""
    ds = ClimbDataset(str(dataset), split="train", seed=5, modalities=("signal",))
    got, slabs = received(ds.loader(batch_size=16, num_workers=1, multiprocessing_context="spawn"))
    assert all(None not in inside and len(inside) == 1 for inside in slabs)
    assert_same_batches(got, list(ds.loader(batch_size=16, num_workers=0)))


def test_a_batch_larger_than_a_slab_crosses_whole(dataset, monkeypatch):
    """What does not fit its slab crosses torch's way; the batch is the same either way."""
    monkeypatch.setattr(transfer, "SLOT_BYTES", 8192)
    ds = ClimbDataset(str(dataset), split="train", seed=5, modalities=("signal",))
    got, slabs = received(ds.loader(batch_size=16, num_workers=1))
    assert all(None in inside and len(inside) > 1 for inside in slabs)
    assert_same_batches(got, list(ds.loader(batch_size=16, num_workers=0)))


def test_a_pinned_batch_is_copied_out_and_gives_its_slab_back_at_once(monkeypatch):
    """With pin_memory the caller holds pinned copies, so the slab is free for the worker again."""
    monkeypatch.setattr(torch.Tensor, "pin_memory", torch.Tensor.clone)  # no accelerator to pin for here
    board = transfer.Board(1, 4)
    transfer.install(board.start(0, 0, None), 0)
    try:
        transfer._pool.begin()
        received = board.receive(transfer._pool.pack(collate([{"__key__": "k", "meta": {}, "signal": torch.rand(2, 50)}])), pin=True)
        assert transfer._pool.take() == 0
    finally:
        transfer.install(None, 0)
    assert arena_slab(received["signal"]) is None and not board.lent
