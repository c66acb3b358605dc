"""Batches cross from DataLoader workers to the main process in reused shared-memory slabs.

Why: torch moves every tensor of every batch into a fresh shared-memory segment, and the kernel
must allocate and zero each fresh page on first touch. On a VM that costs ~6 us per 4 KiB page: a
batch of 32 image + ECG samples (9.3 MB) took ~14 ms of worker CPU to move, as much as decoding 20
samples, so a second worker barely helped. Here each worker keeps a few slabs whose pages stay
allocated: collate builds a batch's tensors inside one free slab, and the batch crosses as that
one shared tensor plus (offset, shape, dtype) of each piece (one descriptor handed over instead of
one per tensor); the main process rebuilds the pieces as views of the slab and gives the slab back
once no tensor of it is referenced any more (the caller may keep a batch as long as it likes: its
slab stays taken until then).

The board is a small shared int64 array [workers, slabs] made by the main process per epoch: a
worker reuses slab s once board[worker, s] equals the number of times it sent s. With the caller
dropping each batch before asking for the next, prefetch_factor + 2 slabs per worker are enough; a
worker finding none free sends its batch the ordinary way. Only `StreamLoader` makes a board, so a
plain DataLoader over a climb dataset behaves as torch's.

Measured (`python -m benchmarks.transfer_slabs`: 2,000 image + ECG samples, DataLoader(num_workers=2,
batch_size=32), 2 cores, interleaved, medians of 3): 908 -> 1,333 samples/s (1.47x), main-process
CPU 0.18 -> 0.06 s per 1,000 samples. With pin_memory=True the batch is copied once more into pinned
memory either way; that case needs an accelerator (torch ignores pin_memory without one) and was
not measured here.
"""

from __future__ import annotations

import multiprocessing
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch

ALIGN = 64
SLAB_KEY = "__slab__"
_END = object()


@dataclass(frozen=True)
class Piece:
    """Where one tensor of a packed batch sits in its slab."""

    offset: int
    shape: tuple[int, ...]
    dtype: torch.dtype


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _packed_bytes(found: list[tuple[dict, Any, torch.Tensor]]) -> int:
    """Slab bytes these tensors take, each aligned."""
    return sum(_aligned(t.numel() * t.element_size()) for _, _, t in found)


def _tensors(tree: dict, out: list[tuple[dict, Any, torch.Tensor]]) -> list[tuple[dict, Any, torch.Tensor]]:
    """(container, key, tensor) of every tensor held in nested dicts (lists are left alone)."""
    for key, value in tree.items():
        if isinstance(value, torch.Tensor):
            out.append((tree, key, value))
        elif isinstance(value, dict):
            _tensors(value, out)
    return out


class SlabPool:
    """Worker side: this worker's slabs, how often each was sent, and the batch being built.

    collate allocates its batch tensors here: they are carved straight out of a free slab sized
    for the largest batch so far, so packing them copies nothing; whatever collate made elsewhere
    (small label tensors, the first batch's tensors) is copied into the slab's remaining room.
    """

    def __init__(self, board: Any, worker: int):
        self.board, self.worker = _counts(board), worker
        self.slabs: list[torch.Tensor] = []
        self.sent: list[int] = []
        self.expected = 0
        self.current: int | None = None
        self.used = 0

    def take(self, nbytes: int) -> int | None:
        """A free slab of at least nbytes (grown or added as needed), or None when all are taken."""
        for slot, slab in enumerate(self.slabs):
            if self.board[self.worker, slot] == self.sent[slot]:
                if slab.numel() < nbytes:
                    self.slabs[slot] = _shared_bytes(nbytes)
                return slot
        if len(self.slabs) < self.board.shape[1]:
            self.slabs.append(_shared_bytes(nbytes))
            self.sent.append(0)
            return len(self.slabs) - 1
        return None

    def begin(self, samples: list) -> None:
        """A new batch of `samples`: take a slab for it, as large as the largest batch so far or,
        before the first, their own tensors with some room (so even the first batch is built in place)."""
        need = self.expected or first_estimate(samples)
        self.current, self.used = (self.take(need) if need else None), 0

    def allocate(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """An uninitialized tensor for the batch being built, in its slab when it fits."""
        n = dtype.itemsize
        for d in shape:
            n *= d
        if self.current is not None and self.used + n <= self.slabs[self.current].numel():
            view = self.slabs[self.current][self.used:self.used + n].view(dtype).view(shape)
            self.used += _aligned(n)
            return view
        return torch.empty(shape, dtype=dtype)

    def pack(self, batch: Any) -> Any:
        """The batch with its tensors as pieces of one slab (unchanged if no slab is free)."""
        slot, self.current = self.current, None
        if not isinstance(batch, dict):
            return batch
        found = _tensors(batch, [])
        need = _packed_bytes(found)
        self.expected = max(self.expected, need)
        if slot is None and found:
            slot, self.used = self.take(need), 0
        if slot is None:
            return batch
        if need > self.slabs[slot].numel():  # a batch larger than any before: a bigger slab, everything copied
            self.slabs[slot], self.used = _shared_bytes(need), 0
        slab = self.slabs[slot]
        base = slab.untyped_storage().data_ptr()
        for tree, key, tensor in found:
            n = tensor.numel() * tensor.element_size()
            if tensor.untyped_storage().data_ptr() == base and tensor.is_contiguous():
                offset = tensor.data_ptr() - base
            elif self.used + n <= slab.numel():
                offset = self.used
                slab[offset:offset + n].view(tensor.dtype).view(tensor.shape).copy_(tensor)
                self.used += _aligned(n)
            else:
                continue
            tree[key] = Piece(offset, tuple(tensor.shape), tensor.dtype)
        self.sent[slot] += 1
        return {**batch, SLAB_KEY: (self.worker, slot, self.sent[slot], slab)}


def _counts(board: tuple[Any, tuple[int, int]]) -> np.ndarray:
    """The board (RawArray, shape) as an int64 array over the same shared memory."""
    shared, shape = board
    return np.frombuffer(shared, dtype=np.int64).reshape(shape)


def _shared_bytes(nbytes: int) -> torch.Tensor:
    """A uint8 tensor in shared memory (made once per slab, so the copy share_memory_ makes is paid once)."""
    return torch.empty(max(nbytes, 1), dtype=torch.uint8).share_memory_()


_pool: SlabPool | None = None


def install(board: Any, worker: int) -> None:
    """Called in each worker when its iterator starts: use this epoch's board (None: no slabs)."""
    global _pool
    _pool = SlabPool(board, worker) if board is not None else None


def packing() -> bool:
    """True in a worker whose batches go through slabs."""
    return _pool is not None


def allocate(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A tensor for the batch being collated in this worker (only while packing())."""
    return _pool.allocate(shape, dtype)


class Packing:
    """A collate_fn wrapper: collate, then pack into a slab when this worker has a pool."""

    def __init__(self, collate_fn: Callable[[list], Any]):
        self.collate_fn = collate_fn

    def __call__(self, samples: list) -> Any:
        if _pool is None:
            return self.collate_fn(samples)
        _pool.begin(samples)
        return _pool.pack(self.collate_fn(samples))


FIRST_SLAB_ROOM = 1.125
"""Headroom of a worker's first slab over its samples' tensors: padding and small batch tensors
(masks, labels) fit, and a batch that does not is copied into a bigger slab as before."""


def first_estimate(samples: list) -> int:
    """Bytes the first batch's tensors need, from its samples' tensors (FIRST_SLAB_ROOM over them).

    Without it the first batch was collated into fresh memory and then copied into a new slab: its
    9.3 MB of pages touched three times, ~70 ms of a worker's first batch instead of ~25."""
    found: list[tuple[dict, Any, torch.Tensor]] = []
    for sample in samples:
        if isinstance(sample, dict):
            _tensors(sample, found)
    return int(_packed_bytes(found) * FIRST_SLAB_ROOM)


class Board:
    """Main side: the shared board and the slabs lent out to batches the caller may still hold."""

    def __init__(self, num_workers: int, slabs: int):
        self.shared = multiprocessing.RawArray("q", num_workers * slabs)  # zeros; shared with workers as they start
        self.shared_shape = (num_workers, slabs)
        self.released = _counts((self.shared, self.shared_shape))
        self.lent: list[tuple[int, int, int, weakref.ref]] = []

    def receiving(self, batches: Iterator[Any]) -> Iterator[Any]:
        """The batches, unpacked; before each next batch is asked for (which sends a worker its next
        task), the slabs of batches the caller has dropped go back, so a worker building its next
        batch finds one free: per worker, prefetch_factor queued + 1 handed over + 1 held suffice."""
        while True:
            self.collect()
            batch = next(batches, _END)
            if batch is _END:
                return
            yield self.receive(batch)

    def receive(self, batch: Any) -> Any:
        """The batch with its pieces rebuilt as views of its slab, which is lent out until unused."""
        if not isinstance(batch, dict) or SLAB_KEY not in batch:
            return batch
        worker, slot, sent, slab = batch.pop(SLAB_KEY)
        storage = slab.untyped_storage()
        _unpack(batch, storage)
        self.lent.append((worker, slot, sent, weakref.ref(storage)))
        return batch

    def collect(self) -> None:
        """Mark every slab whose tensors are all gone as free for its worker."""
        still = []
        for worker, slot, sent, ref in self.lent:
            if ref() is None:
                self.released[worker, slot] = sent
            else:
                still.append((worker, slot, sent, ref))
        self.lent = still


def _unpack(tree: dict, storage: torch.UntypedStorage) -> None:
    for key, value in tree.items():
        if isinstance(value, Piece):
            tree[key] = _view(storage, value)
        elif isinstance(value, dict):
            _unpack(value, storage)


def _view(storage: torch.UntypedStorage, piece: Piece) -> torch.Tensor:
    """The piece as a tensor on the slab, made the way torch rebuilds received tensors (set_), which
    keeps the main process on code paths it already runs."""
    stride, step = [], 1
    for d in reversed(piece.shape):
        stride.append(step)
        step *= max(d, 1)
    empty = torch.empty((0,), dtype=piece.dtype)
    return empty.set_(storage, piece.offset // piece.dtype.itemsize, piece.shape, tuple(reversed(stride)))
