"""`ClimbDataset`: stream one split of a converted dataset into PyTorch, exactly partitioned and resumable.

    ds = ClimbDataset("s3://bucket/out/ptbxl", split="train", seed=0, modalities=("signal",))
    loader = ds.loader(batch_size=32, num_workers=2)      # a DataLoader that keeps ds's position
    for epoch in range(start_epoch, epochs):
        ds.set_epoch(epoch)
        for batch in loader: ...
        checkpoint["data"] = ds.state_dict()            # {manifest, seed, epoch, samples_seen, shuffle}

The iterator only runs plan -> read -> decode -> transform; the order is plan.py's, the bytes
shards.py's. Progress is counted where batches reach the training loop (in the main process), as
samples consumed by all ranks together, so a state dict taken at a synchronous step resumes the same
global order on any world size or worker count (the shuffle's geometry, which scales with the world
size unless given, travels in the state). A plain DataLoader works too (every sample still
read exactly once per rank share), but only `loader()` or num_workers=0 tracks progress.
"""

from __future__ import annotations

import threading
import weakref
from abc import ABC, abstractmethod
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from climb.loaders import pieces, transfer
from climb.loaders.collate import batch_size_of, collate
from climb.loaders.decode import TaskSpec, decode_sample, placeholder, task_specs
from climb.loaders.io import RetryPolicy, ShardCache
from climb.loaders.plan import TAILS, World, epoch_order, manifest_key, partition, per_rank_count, sample_rng
from climb.loaders.shards import DatasetInfo, SampleReader, carried_modalities, open_dataset, uncached_remote
from climb.storage import keep_inherited_filesystems

STATE_VERSION = 3
"""Bumped whenever the same (manifest, seed, epoch) would give another order: 2 draws the plan's
shuffle from plan.Draws (1 drew it from numpy's PCG64), so a state of 1 cannot resume exactly; 3
scales the shuffle's buckets and window with the world size (ClimbDataset.geometry) and records them."""
BUCKETS_PER_RANK = 8
Transform = Callable[[dict[str, Any], "np.random.Generator"], dict[str, Any]]
"""A per-sample random transform (quoted: naming numpy.random here would import it, ~2.7 MB, for every reader)."""


def detect_world(rank: int | None, world_size: int | None) -> World:
    """The edge: torch.distributed and DataLoader worker info are read here and nowhere else."""
    import torch.distributed as dist

    live = dist.is_available() and dist.is_initialized()
    world_size = world_size if world_size is not None else (dist.get_world_size() if live else 1)
    rank = rank if rank is not None else (dist.get_rank() if live else 0)
    info = get_worker_info()
    return World(rank=rank, world_size=world_size, worker=info.id if info else 0, num_workers=info.num_workers if info else 1)


class StreamLoader(DataLoader):
    """A DataLoader that advances its dataset's position as batches reach the caller, and whose
    workers hand batches over in reused shared memory (transfer.py).

    With persistent_workers the same workers serve every epoch: their copy of the dataset is the
    first epoch's, so the main process announces each iteration (epoch, first position, pieces
    folder) in the arena before they begin it.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._idle_board: transfer.Board | None = None
        self._ending: threading.Thread | None = None

    def _take_board(self) -> transfer.Board:
        """The board of an earlier epoch whose workers are gone (its slabs' pages are allocated
        already), else a new one: two iterations open at once never share slabs. The last epoch's
        workers are waited for if they are still exiting: the board comes back as they are gone.
        Persistent workers keep the board of their first epoch for good: it stays the idle one."""
        slabs = (self.prefetch_factor or 2) + 2
        if self.persistent_workers:
            if self._idle_board is None:
                self._idle_board = transfer.Board(self.num_workers, slabs)
            return self._idle_board
        self.wait_for_workers()
        board, self._idle_board = self._idle_board, None
        return board if board is not None and board.shape == (self.num_workers, slabs) else transfer.Board(self.num_workers, slabs)

    def _give_back(self, board: transfer.Board) -> None:
        self._idle_board = board

    def wait_for_workers(self) -> None:
        """Wait until the workers of the epoch that ended last have exited (they exit behind the
        caller, shut_down_behind): before measuring what they used, say, or forking."""
        if self._ending is not None:
            self._ending.join()

    def __getstate__(self) -> dict[str, Any]:
        """A copy of the loader makes its own arena: two loaders never share slabs."""
        return {**self.__dict__, "_idle_board": None, "_ending": None}

    def __iter__(self):
        ds = self.dataset
        if self.num_workers == 0:
            yield from super().__iter__()
            return
        start, ranks = ds._resume, ds.world().world_size
        board = self._take_board()
        folder = pieces.make_folder() if self.num_workers > 1 and ds.remote_uncached() else None
        # Removed once: when this iteration ends, or at interpreter exit while modules are still
        # whole if the iteration is still open then (a generator closed during teardown finds
        # module globals gone, and the folder would outlive the process).
        remove_folder = weakref.finalize(board, pieces.remove_folder, folder)
        ds._board, ds._pieces = board.start(ds.epoch, start, folder), folder
        # climb's collate copies every tensor into the batch: its samples may borrow fetched bytes,
        # and its batches count their samples exactly, so the epoch ends with its last sample
        climbs = isinstance(self.collate_fn, transfer.Packing) and self.collate_fn.collate_fn is collate
        ds._collated = climbs
        try:
            batches = super().__iter__()  # workers start here, with the resume position, board and pieces folder in their copy
        except BaseException:
            remove_folder()
            raise
        finally:
            ds._board, ds._pieces, ds._collated = None, None, False
        if not self.persistent_workers:
            # the board comes back once this epoch's workers have been shut down (the iterator's
            # __del__ joins them before its weak references are cleared): no worker of it writes then
            weakref.finalize(batches, self._give_back, board)
        ds._resume, ds._seen = 0, start
        pin = self.pin_memory and torch.accelerator.is_available()
        total = len(ds) * ranks if climbs else None
        receiving = board.receiving(batches, pin)
        try:
            for batch in receiving:
                ds._seen += batch_size_of(batch) * ranks
                yield batch
                if total is not None and ds._seen >= total:
                    break
        finally:
            receiving.close()
            remove_folder()  # this iteration's, even if another one began meanwhile
        if not self.persistent_workers:
            last = [batches]
            del batches
            self._ending = shut_down_behind(last)


def shut_down_behind(iterator: list[Any]) -> threading.Thread:
    """Drop the last reference to a finished epoch's DataLoader iterator on a thread of its own.

    Its workers then exit while the caller goes on: torch joins them when the iterator is
    collected, and a worker's exit (the kernel tearing down its copy of the parent's address space)
    kept the caller waiting ~15 ms at the end of every epoch (2 workers, 266 KB samples: 6% of a
    1,000-sample epoch). With climb's collate the epoch ends once its last sample has arrived
    (every rank's share is known exactly), so torch's own end-of-data markers are not waited for
    either; other collates' batches may not count their samples, so theirs end as torch's do.
    `iterator` is a one-item list the caller no longer refers to otherwise; the thread is returned,
    so that the next epoch can wait for the workers to be gone before it reuses their slabs.
    """
    thread = threading.Thread(target=iterator.clear, name="climb-loader-shutdown", daemon=True)
    thread.start()
    return thread


class Stream(IterableDataset, ABC):
    """Shared machinery of ClimbDataset and MixedDataset: position, state, partition, read, decode."""

    def __init__(self, seed: int, rank: int | None, world_size: int | None, batch_size: int | None, tail: str,
                 on_error: str, transform: Transform | None, retry: RetryPolicy):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if tail not in TAILS:
            raise ValueError(f"tail must be one of {TAILS}, got {tail!r}")
        self.seed, self.rank, self.world_size, self.batch_size = seed, rank, world_size, batch_size
        self.tail, self.on_error, self.transform, self.retry = tail, on_error, transform, retry
        self.epoch, self._resume, self._seen = 0, 0, 0
        self._board = None
        self._pieces: str | None = None
        self._collated = False

    # Subclasses define the epoch's global order and how to read it.
    tasks: dict[str, TaskSpec]
    sources: list[tuple[DatasetInfo, dict | None, tuple[str, ...] | None, ShardCache | None]]

    @abstractmethod
    def epoch_length(self) -> int:
        """Length of one epoch's global order."""

    @abstractmethod
    def reads(self, positions: np.ndarray) -> np.ndarray:
        """int64 [n, 3] (dataset, shard, sample) for positions of this epoch's global order."""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What a state dict must match to be resumable here (manifest hashes, split, mixing)."""

    def world(self) -> World:
        return detect_world(self.rank, self.world_size)

    def remote_uncached(self) -> bool:
        """Whether shards are read by ranges from an object store, the reads pieces.py shares."""
        return uncached_remote([info.url for info, _, _, _ in self.sources], [cache for _, _, _, cache in self.sources])

    def __len__(self) -> int:
        """Samples each rank yields in a whole epoch."""
        return per_rank_count(self.epoch_length(), self.world().world_size, self.tail)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's order; a new epoch starts from its beginning, the resumed one does not."""
        if epoch != self.epoch:
            self.epoch, self._resume, self._seen = epoch, 0, 0

    def state_dict(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, **self.identity(), "seed": self.seed, "epoch": self.epoch,
                "samples_seen": self._seen, "world_size": self.world().world_size,
                "shuffle": self.shuffle_state(self.world().world_size)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where `state` stopped, with the shuffle it was taken with (on any world size);
        refuses a state taken on other data, another seed or shuffle, or by a climb whose orders
        differ from this one's."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"state_dict version {state.get('version')!r} orders samples differently from this climb "
                             f"(version {STATE_VERSION}): it cannot resume exactly; start the epoch again")
        for name, value in {**self.identity(), "seed": self.seed}.items():
            if state.get(name) != value:
                raise ValueError(f"state_dict {name} {state.get(name)!r} does not match this dataset's {value!r}")
        self.keep_shuffle(state["shuffle"])
        self.epoch, self._resume, self._seen = int(state["epoch"]), int(state["samples_seen"]), int(state["samples_seen"])

    @abstractmethod
    def in_stored_order(self) -> bool:
        """Whether the order is stored order, which ranks read in whole batches (plan.partition `blocks`)."""

    @abstractmethod
    def shuffle_state(self, world_size: int) -> Any:
        """The shuffle's geometry on `world_size` ranks, as JSON: what a resumed order must keep."""

    @abstractmethod
    def keep_shuffle(self, recorded: Any) -> None:
        """Use a state's recorded geometry from now on; refuses one that contradicts an explicit setting."""

    def loader(self, batch_size: int, num_workers: int = 0, **kwargs: Any) -> StreamLoader:
        """A DataLoader over this dataset that tracks progress for state_dict() (persistent_workers
        allowed where the loader can share an arena with its workers: Linux)."""
        if kwargs.get("persistent_workers") and not transfer.arenas():
            raise ValueError("persistent_workers learn each epoch from the loader's shared arena, which needs "
                             "os.memfd_create (Linux); leave persistent_workers off here")
        self.batch_size = batch_size
        kwargs["collate_fn"] = transfer.Packing(kwargs.get("collate_fn") or collate)
        return StreamLoader(self, batch_size=batch_size, num_workers=num_workers, **kwargs)

    def __iter__(self):
        world = self.world()
        start, main = self._resume, get_worker_info() is None
        if main:
            self._resume, self._seen = 0, start
        else:
            # a forked worker must never finalize the parent's s3fs instances (climb.storage): the
            # first garbage collection in the worker waited 1 s on each for a session close on the
            # parent's event loop, the better part of the first batch's latency from S3
            keep_inherited_filesystems()
            transfer.install(self._board, world.worker)
            if self._board is not None:
                # the iteration the main process announced: a persistent worker's copy is its first epoch's
                self.epoch, start, self._pieces = self._board.iteration()
        share, peers = None, None
        if self._pieces and not main:  # the rank's other workers' reads too: pure, like this one's
            share = pieces.PieceShare(self._pieces, world.worker)
            workers, me = [World(world.rank, world.world_size, w, world.num_workers) for w in range(world.num_workers)], world.worker
        else:
            workers, me = [world], 0
        parts = [partition(self.epoch_length(), start, w, self.batch_size, self.tail, self.in_stored_order()) for w in workers]
        # every worker's positions looked up in the epoch's order at once: the order is computed once
        everything = self.reads(np.concatenate([p.positions for p in parts]))
        split = np.split(everything, np.cumsum([len(p.positions) for p in parts])[:-1])
        part, reads = parts[me], split[me]
        if share is not None:
            peers = split
        infos, options, modalities, caches = (list(x) for x in zip(*self.sources))
        # batched, nothing reaches the caller before a whole batch: fetch the first one in one go
        reader = SampleReader(infos, options, modalities, self.retry, caches, first_chunk=self.batch_size or 1,
                              sequential=self.in_stored_order())
        # in a worker whose samples only climb's collate sees, npy arrays may stay views of fetched bytes
        borrow = self._collated and self.transform is None and not main
        for i, item in enumerate(reader.samples(reads, share, peers, world.worker)):
            sample = self._decode(item, infos[int(reads[i, 0])], reads[i], int(part.positions[i]), borrow)
            if main:
                self._seen = start + (i + 1) * world.world_size
            yield sample

    def _decode(self, item: Any, info: DatasetInfo, read: np.ndarray, position: int, borrow: bool) -> dict[str, Any]:
        key = item[0] if isinstance(item, tuple) else f"{info.shards[int(read[1])]['path']}#{int(read[2])}"
        try:
            if isinstance(item, BaseException):
                raise item
            sample = decode_sample(key, item[1], self.tasks, borrow)
            sample["__url__"] = info.url
            if self.transform is not None:
                sample = self.transform(sample, sample_rng(self.seed, self.epoch, position, manifest_key(info.sha256)))
            return sample
        except Exception as exc:  # noqa: BLE001 - the on_error policy decides
            if self.on_error == "raise":
                raise
            return placeholder(key, self.tasks, exc)


class ClimbDataset(Stream):
    """One split of one converted dataset (a folder with manifest.json, local or s3://).

    Args:
        manifest_url: the dataset folder or its manifest.json.
        split: which split to stream.
        seed: selects the order (with the epoch and the manifest hash).
        shuffle: False streams in manifest order (evaluation).
        rank, world_size: default from torch.distributed when initialized, else 0 and 1.
        modalities: fields to read (e.g. ("image", "signal")); None reads every member.
        tasks: label tasks to return; None takes every task of the manifest.
        storage_options: fsspec options (e.g. {"client_kwargs": {"endpoint_url": ...}}).
        batch_size: the DataLoader batch size (set by loader()); fixes which worker reads what.
        tail: "wrap" repeats a few samples so all ranks get equal counts; "drop" drops them.
        shuffle_window: how far (in positions of the epoch's order) the shuffle may move a sample
            from its place in the permuted shard stream; a rank holds about its share of it (plus a
            piece of each bucket it reads). None: as many samples as SHUFFLE_BYTES hold, per rank.
        shuffle_buckets: stretches of the shard stream read side by side and striped into the
            order. None: BUCKETS_PER_RANK per rank, so that each rank's batches draw from that many
            stretches and it reads whole pieces of them (docs/training-from-s3.md). A resumed state
            brings the geometry it was taken with.
        cache_dir, cache_bytes: optional verified local shard cache and its size bound.
        on_error: "raise", or "skip" (the sample becomes a masked placeholder with "__error__").
        transform: f(sample, rng) -> sample, run in the worker with a per-sample generator.
        where: a view filter over the dataset's catalog columns (docs/views.md), e.g.
            'meta.view in ["PA", "AP"]': only the samples it selects are read, through the range index.
        catalog_sha256: refuse a catalog with other bytes (a pinned view's record).
    """

    SHUFFLE_BYTES = 48 << 20

    def __init__(self, manifest_url: str, split: str = "train", seed: int = 0, shuffle: bool = True,
                 rank: int | None = None, world_size: int | None = None, modalities: Sequence[str] | None = None,
                 tasks: Sequence[str] | None = None, storage_options: dict[str, Any] | None = None, *,
                 batch_size: int | None = None, tail: str = "wrap", shuffle_window: int | None = None,
                 shuffle_buckets: int | None = None,
                 cache_dir: str | None = None, cache_bytes: int | None = None, on_error: str = "raise",
                 transform: Transform | None = None, retry: RetryPolicy = RetryPolicy(),
                 where: str | None = None, catalog_sha256: str | None = None):
        super().__init__(seed, rank, world_size, batch_size, tail, on_error, transform, retry)
        self.info = open_dataset(manifest_url, split, storage_options, retry)
        mean = sum(s["bytes"] for s in self.info.shards) / max(1, self.info.total)
        self.where = where
        self.selection, self.catalog_sha256 = (None, None)
        if where is not None:
            from climb.loaders.views import shard_selection

            self.selection, self.catalog_sha256 = shard_selection(self.info, where, storage_options, catalog_sha256)
        if (shuffle_window is not None and shuffle_window < 1) or (shuffle_buckets is not None and shuffle_buckets < 1):
            raise ValueError(f"shuffle window and buckets must be at least 1, got {shuffle_window} and {shuffle_buckets}")
        self.shuffle, self.shuffle_window, self.shuffle_buckets = shuffle, shuffle_window, shuffle_buckets
        self.window_per_rank = max(1, int(self.SHUFFLE_BYTES // max(mean, 1)))
        self.modalities = tuple(modalities) if modalities is not None else None
        self.storage_options = storage_options
        self.tasks = task_specs([self.info.manifest.get("tasks", {})], tuple(tasks) if tasks is not None else None)
        self.cache = ShardCache(cache_dir, cache_bytes) if cache_dir else None
        self.sources = [(self.info, storage_options, self.modalities, self.cache)]

    def epoch_length(self) -> int:
        return self.info.total if self.selection is None else int(sum(len(s) for s in self.selection))

    def carried_modalities(self) -> tuple[str, ...]:
        """The modality fields this dataset's samples carry (see shards.carried_modalities)."""
        return carried_modalities(self.info, self.storage_options, self.retry)

    def geometry(self, world_size: int) -> tuple[int, int]:
        """(shuffle window, buckets) on `world_size` ranks: the given ones, else scaled with the
        world. A rank takes every world_size-th position of the order and the buckets are striped
        into it, so with fixed buckets a rank read fewer stretches the more ranks there were (8
        buckets: 8.4 shards per batch of 32 on 1 rank, 1.2 on 8) and, past the bucket count, one or
        two samples of each 8 MiB piece (1.3 per GET on 64 ranks); BUCKETS_PER_RANK per rank keeps
        8.0-8.4 shards per batch and 27-30 samples per GET (loaders/plan.py on 15,360-61,440 samples of
        266 KB, docs/SCALING.md)."""
        return (self.shuffle_window or self.window_per_rank * world_size,
                self.shuffle_buckets or BUCKETS_PER_RANK * world_size)

    def in_stored_order(self) -> bool:
        return not self.shuffle

    def shuffle_state(self, world_size: int) -> list[int]:
        return list(self.geometry(world_size))

    def keep_shuffle(self, recorded: Any) -> None:
        window, buckets = (int(v) for v in recorded)
        for name, given, value in (("shuffle_window", self.shuffle_window, window), ("shuffle_buckets", self.shuffle_buckets, buckets)):
            if given is not None and given != value:
                raise ValueError(f"state_dict was taken with {name}={value}, this dataset sets {given}: "
                                 f"leave {name} unset to resume with the recorded one")
        self.shuffle_window, self.shuffle_buckets = window, buckets

    def order(self, epoch: int, cycle: int = 0, seed: int | None = None, world_size: int | None = None) -> np.ndarray:
        """int64 [N, 2] (shard, sample): the order of an epoch (of `seed`, default this dataset's; a
        mix passes its own), the same on every rank of a world of `world_size` (default this
        dataset's). With a view filter the order runs over the selected samples only, and each is
        mapped to its position in its shard."""
        counts = self.info.counts if self.selection is None else np.asarray([len(s) for s in self.selection], dtype=np.int64)
        window, buckets = self.geometry(self.world().world_size if world_size is None else world_size)
        order = epoch_order(counts, self.seed if seed is None else seed, epoch, manifest_key(self.info.sha256),
                            self.shuffle, window, cycle, buckets)
        if self.selection is not None and len(order):
            flat = np.concatenate(self.selection)
            starts = np.cumsum(counts) - counts
            order[:, 1] = flat[starts[order[:, 0]] + order[:, 1]]
        return order

    def reads(self, positions: np.ndarray) -> np.ndarray:
        picked = self.order(self.epoch)[positions]
        return np.concatenate([np.zeros((len(picked), 1), dtype=np.int64), picked], axis=1)

    def identity(self) -> dict[str, Any]:
        out = {"manifest_sha256": self.info.sha256, "split": self.info.split}
        if self.where is not None:
            out.update(where=self.where, catalog_sha256=self.catalog_sha256)
        return out
