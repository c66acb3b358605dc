"""Worker batches cross in reused shared-memory slabs without ever changing what the caller sees."""

from __future__ import annotations

import pytest
import torch

from climb.loaders import ClimbDataset
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


def shared_segment(tensor: torch.Tensor) -> int:
    """Inode of the shared-memory mapping that holds a tensor's bytes (from /proc/self/maps)."""
    address = tensor.data_ptr()
    with open("/proc/self/maps") as maps:
        for line in maps:
            span, _, _, _, inode, *_ = line.split()
            start, end = (int(x, 16) for x in span.split("-"))
            if start <= address < end:
                return int(inode)
    raise AssertionError("tensor is not in any mapping")


def test_kept_batches_from_two_workers_equal_the_in_process_batches(dataset):
    """Holding every batch leaves workers without free slabs: nothing may be overwritten meanwhile."""
    ds = ClimbDataset(str(dataset), split="train", seed=5)
    kept = list(ds.loader(batch_size=8, num_workers=2))
    expected = list(ds.loader(batch_size=8, num_workers=0))
    assert [b["__key__"] for b in kept] == [b["__key__"] for b in expected]
    for got, want in zip(kept, expected):
        assert SLAB_KEY not in got
        got_t, want_t = tensors(got), tensors(want)
        assert got_t.keys() == want_t.keys()
        for path, value in want_t.items():
            assert got_t[path].dtype == value.dtype and torch.equal(got_t[path], value), path


def test_a_batch_is_one_slab_and_dropped_batches_give_their_slab_back(dataset):
    """Each batch crosses as one shared segment; once slabs have grown to the largest batch, a worker
    cycles through at most prefetch_factor + 2 of them while the caller drops each batch in turn."""
    ds = ClimbDataset(str(dataset), split="train", seed=5, modalities=("signal",))
    segments = []
    for batch in ds.loader(batch_size=4, num_workers=1, prefetch_factor=2):
        inside = {shared_segment(t) for t in tensors(batch).values() if t.numel()}
        assert len(inside) == 1
        segments += inside
    assert len(segments) == 25
    assert len(set(segments[12:])) <= 2 + 2


def test_the_first_batch_is_collated_inside_its_slab_and_crosses_unchanged():
    """Before any batch has set the slab size, the samples' own tensors size the first slab, so
    collate builds the batch in shared memory instead of building it elsewhere and copying it in."""
    from climb.loaders import transfer
    from climb.loaders.collate import collate

    samples = [{"__key__": f"k{i}", "meta": {}, "image": torch.full((16, 16), i, dtype=torch.uint8), "signal": torch.rand(2, 50)}
               for i in range(4)]
    expected = collate(samples)
    board = transfer.Board(1, 4)
    transfer.install((board.shared, board.shared_shape), 0)
    try:
        transfer._pool.begin(samples)
        built = collate(samples)
        slab = transfer._pool.slabs[0].untyped_storage()
        assert built["image"].untyped_storage().data_ptr() == slab.data_ptr()
        assert built["signal"].untyped_storage().data_ptr() == slab.data_ptr()
        received = board.receive(transfer._pool.pack(built))
    finally:
        transfer.install(None, 0)
    assert set(tensors(received)) == set(tensors(expected))
    for path, tensor in tensors(expected).items():
        assert torch.equal(tensors(received)[path], tensor), path
