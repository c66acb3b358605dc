"""Batches cross from DataLoader workers to the main process in reused shared-memory slabs.

Why: torch moves every tensor of every batch into a fresh shared-memory segment, and the kernel
must allocate and zero each fresh page on first touch. On a VM that costs ~6 us per 4 KiB page: a
batch of 32 image + ECG samples (9.3 MB) took ~14 ms of worker CPU to move, as much as decoding 20
samples, so a second worker barely helped. Here each worker has a few slabs whose pages stay
allocated: collate builds a batch's tensors inside one free slab, and the batch crosses as
(worker, slab, bytes used) plus (offset, shape, dtype) of each piece; the main process rebuilds the
pieces as views of the slab and gives the slab back once no tensor of it is referenced any more
(the caller may keep a batch as long as it likes: its slab stays taken until then).

The slabs live in one arena the main process makes before its workers start (an anonymous memfd,
sparse: a slab takes memory only where batches touched it), with a board of int64 counts
[workers, slabs] in its first page: a worker reuses slab s once board[worker, s] equals the number
of times it sent s. So nothing is created or handed over per epoch or per batch, and the loader
keeps its arena for its next epoch, whose workers find the pages allocated; a batch kept from an
earlier epoch keeps its slab until it is dropped. With the caller dropping each batch before
asking for the next, prefetch_factor + 2 slabs per worker are enough; a worker finding none free
(or a batch larger than a slab) sends the rest the ordinary way. Only `StreamLoader` makes an
arena, so a plain DataLoader over a climb dataset behaves as torch's.

Measured (`python -m benchmarks.transfer_slabs`: 2,000 image + ECG samples, DataLoader(num_workers=2,
batch_size=32), 2 cores, interleaved, medians of 3):

| samples/s (main-process CPU s per 1,000 samples) | epoch 1 | epoch 2 |
|---|---|---|
| torch's own hand-over | 2,715 (0.088) | 2,662 (0.087) |
| slabs each worker made per epoch, sent as shared tensors (before) | 4,924 (0.028) | 4,996 (0.032) |
| the loader's arena (now) | 5,719 (0.022) | 5,851 (0.019) |

Most of the last step is the worker's heap (climb/allocator.py): the per-epoch slabs had raised
glibc's trim threshold by accident, and without them a worker gave the heap's top back after every
batch. With pin_memory=True the pieces are copied into pinned memory as they arrive and the slab is
free again at once; that case needs an accelerator (torch ignores pin_memory without one) and was
not measured here.
"""

from __future__ import annotations

import mmap
import os
import weakref
from dataclasses import dataclass
from multiprocessing import reduction
from typing import Any, Callable, Iterator

import numpy as np
import torch

from climb.allocator import keep_freed_memory, one_arena

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


def _tensors(tree: dict, out: list[tuple[dict, Any, torch.Tensor]]) -> list[tuple[dict, Any, torch.Tensor]]:
    """(container, key, tensor) of every tensor held in nested dicts (lists are left alone)."""
    for key, value in tree.items():
        if isinstance(value, torch.Tensor):
            out.append((tree, key, value))
        elif isinstance(value, dict):
            _tensors(value, out)
    return out


SLOT_BYTES = 256 << 20
"""Address space of one slab in a new arena. Only the pages a batch touches take memory (the arena
is a sparse memfd), so slabs need no sizing; a batch larger than this crosses its remaining tensors
torch's way."""


ITERATION_BYTES = 3 * 8 + 4096
"""Header room for the iteration the workers are to read: epoch, first position, pieces folder."""


class Arena:
    """The shared memory of a loader's slabs: a header with the release counts ("the board", int64
    [workers, slabs]) and the iteration the workers are to read, then a SLOT_BYTES slab per
    (worker, slab), in one anonymous memfd.

    The main process makes it before its workers start, so a forked worker finds it mapped and a
    spawned one receives its file descriptor; it outlives the epoch, so later epochs find its
    pages already allocated, and persistent workers learn each new epoch from it.
    """

    def __init__(self, workers: int, slabs: int, slab_bytes: int, fd: int | None = None):
        self.shape, self.slab_bytes = (workers, slabs), slab_bytes
        board = workers * slabs * 8
        self.header = -(-(board + ITERATION_BYTES) // mmap.ALLOCATIONGRANULARITY) * mmap.ALLOCATIONGRANULARITY
        size = self.header + workers * slabs * slab_bytes
        if fd is None:
            fd = os.memfd_create("climb-slabs", os.MFD_CLOEXEC)
            os.ftruncate(fd, size)
        self.fd = fd
        weakref.finalize(self, os.close, fd)
        self.memory = mmap.mmap(fd, size)
        self.counts = np.frombuffer(self.memory, dtype=np.int64, count=workers * slabs).reshape(self.shape)
        self._iteration = np.frombuffer(self.memory, dtype=np.int64, count=3, offset=board)
        self._folder_at = board + 3 * 8

    def announce(self, epoch: int, start: int, folder: str | None) -> None:
        """Main side, before the workers begin an iteration: its epoch, first position and pieces folder."""
        name = (folder or "").encode()
        if len(name) > ITERATION_BYTES - 3 * 8:
            raise ValueError(f"pieces folder path too long for the arena: {folder}")
        self.memory[self._folder_at:self._folder_at + len(name)] = name
        self._iteration[:] = (epoch, start, len(name))

    def iteration(self) -> tuple[int, int, str | None]:
        """Worker side: (epoch, first position, pieces folder) of the iteration it is beginning."""
        epoch, start, n = self._iteration.tolist()
        return epoch, start, self.memory[self._folder_at:self._folder_at + n].decode() or None

    @classmethod
    def make(cls, workers: int, slabs: int) -> "Arena | None":
        """An arena, or None where the system has no memfd (batches then cross torch's way)."""
        return cls(workers, slabs, SLOT_BYTES) if arenas() else None

    def __reduce__(self):
        return _attach, (reduction.DupFd(self.fd), *self.shape, self.slab_bytes)

    def slab(self, worker: int, slot: int, nbytes: int | None = None) -> torch.Tensor:
        """The first nbytes of a slab (all of it by default), as a uint8 tensor over the arena (no copy)."""
        nbytes = self.slab_bytes if nbytes is None else nbytes
        offset = self.header + (worker * self.shape[1] + slot) * self.slab_bytes
        return torch.frombuffer(self.memory, dtype=torch.uint8, count=max(nbytes, 1), offset=offset)


def arenas() -> bool:
    """Whether this system can make arenas (anonymous memfds: Linux)."""
    return hasattr(os, "memfd_create")


def _attach(fd: Any, workers: int, slabs: int, slab_bytes: int) -> Arena:
    """A spawned worker's arena, from the file descriptor it received."""
    return Arena(workers, slabs, slab_bytes, fd.detach())


class SlabPool:
    """Worker side: this worker's slabs, how often each was sent, and the batch being built.

    collate allocates its batch tensors here: they are carved straight out of a free slab, so
    packing them copies nothing; whatever collate made elsewhere (small label tensors) is copied
    into the slab's remaining room.
    """

    def __init__(self, arena: Arena, worker: int):
        keep_freed_memory()  # a batch's sample buffers, freed together, stay in the heap (climb/allocator.py)
        one_arena()  # its fetch threads allocate from its arenas, not one each (climb/allocator.py)
        self.arena, self.worker = arena, worker
        self.slabs = [arena.slab(worker, slot) for slot in range(arena.shape[1])]
        self.sent = [0] * len(self.slabs)
        self.current: int | None = None
        self.used = 0

    def take(self) -> int | None:
        """A free slab, or None when all are taken."""
        for slot, sent in enumerate(self.sent):
            if self.arena.counts[self.worker, slot] == sent:
                return slot
        return None

    def begin(self) -> None:
        """A new batch: take a slab for it."""
        self.current, self.used = self.take(), 0

    def allocate(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """An uninitialized tensor for the batch being built, in its slab when it fits."""
        n = dtype.itemsize
        for d in shape:
            n *= d
        if self.current is not None and self.used + n <= self.arena.slab_bytes:
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
        if slot is None and found:
            slot, self.used = self.take(), 0
        if slot is None:
            return batch
        slab = self.slabs[slot]
        base, end = slab.data_ptr(), 0
        for tree, key, tensor in found:
            n = tensor.numel() * tensor.element_size()
            if tensor.untyped_storage().data_ptr() == base and tensor.is_contiguous():
                offset = tensor.data_ptr() - base
            elif self.used + n <= self.arena.slab_bytes:
                offset = self.used
                slab[offset:offset + n].view(tensor.dtype).view(tensor.shape).copy_(tensor)
                self.used += _aligned(n)
            else:
                continue
            tree[key] = Piece(offset, tuple(tensor.shape), tensor.dtype)
            end = max(end, offset + n)
        self.sent[slot] += 1
        return {**batch, SLAB_KEY: (self.worker, slot, self.sent[slot], end)}


_pool: SlabPool | None = None


def install(arena: Arena | None, worker: int) -> None:
    """Called in each worker when its iterator starts: use the loader's arena (None: no slabs)."""
    global _pool
    _pool = SlabPool(arena, worker) if arena is not None else None


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
        _pool.begin()
        return _pool.pack(self.collate_fn(samples))


class Board:
    """Main side: the arena, and the slabs lent out to batches the caller may still hold (across
    epochs: a batch kept from the last epoch keeps its slab from the next epoch's workers)."""

    def __init__(self, num_workers: int, slabs: int):
        self.arena = Arena.make(num_workers, slabs)
        self.shape = (num_workers, slabs)
        self.lent: list[tuple[int, int, int, weakref.ref]] = []

    def start(self, epoch: int, first: int, folder: str | None) -> Arena | None:
        """Ready the board for a new epoch's workers (each counts its sends from 0), announce the
        iteration (epoch, first position, pieces folder) and return the arena they are to use: a
        slab still lent waits (count -1) until its batch is dropped."""
        if self.arena is None:
            return None
        self.arena.announce(epoch, first, folder)
        self.collect()
        self.arena.counts[:] = 0
        self.lent = [(worker, slot, 0, ref) for worker, slot, _, ref in self.lent]
        for worker, slot, _, _ in self.lent:
            self.arena.counts[worker, slot] = -1
        return self.arena

    def receiving(self, batches: Iterator[Any], pin: bool = False) -> Iterator[Any]:
        """The batches, unpacked; before each next batch is asked for (which sends a worker its next
        task), the slabs of batches the caller has dropped go back, so a worker building its next
        batch finds one free: per worker, prefetch_factor queued + 1 handed over + 1 held suffice."""
        while True:
            self.collect()
            batch = next(batches, _END)
            if batch is _END:
                return
            yield self.receive(batch, pin)

    def receive(self, batch: Any, pin: bool = False) -> Any:
        """The batch with its pieces rebuilt as views of its slab, which is lent out until unused;
        with `pin`, pinned copies of them instead, and the slab goes back at once."""
        if not isinstance(batch, dict) or SLAB_KEY not in batch:
            return batch
        worker, slot, sent, nbytes = batch.pop(SLAB_KEY)
        storage = self.arena.slab(worker, slot, nbytes).untyped_storage()
        _unpack(batch, storage, pin)
        if pin:
            self.arena.counts[worker, slot] = sent
        else:
            self.lent.append((worker, slot, sent, weakref.ref(storage)))
        return batch

    def collect(self) -> None:
        """Mark every slab whose tensors are all gone as free for its worker."""
        still = []
        for worker, slot, sent, ref in self.lent:
            if ref() is None:
                self.arena.counts[worker, slot] = sent
            else:
                still.append((worker, slot, sent, ref))
        self.lent = still


def _unpack(tree: dict, storage: torch.UntypedStorage, pin: bool) -> None:
    for key, value in tree.items():
        if isinstance(value, Piece):
            tree[key] = _view(storage, value).pin_memory() if pin else _view(storage, value)
        elif isinstance(value, dict):
            _unpack(value, storage, pin)


def _view(storage: torch.UntypedStorage, piece: Piece) -> torch.Tensor:
    """The piece as a tensor on the slab, made the way torch rebuilds received tensors (set_), which
    keeps the main process on code paths it already runs."""
    stride, step = [], 1
    for d in reversed(piece.shape):
        stride.append(step)
        step *= max(d, 1)
    empty = torch.empty((0,), dtype=piece.dtype)
    return empty.set_(storage, piece.offset // piece.dtype.itemsize, piece.shape, tuple(reversed(stride)))
