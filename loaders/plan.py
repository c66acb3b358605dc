"""Which samples each rank's worker reads, in which order: pure numpy, no torch, no env, no I/O.

Every random choice the loaders make is drawn here from a generator seeded by explicit
coordinates (Draws), so the same (manifest, seed, epoch) gives the same order on every machine:

    epoch_order(shard_counts, seed, epoch, key)   the global order G of one epoch, a function of its
        arguments alone (ClimbDataset scales the window and buckets with the world size and keeps
        them in its state, so a resumed job has the same G on any world size):
        shards permuted and their samples concatenated; that stream cut into `buckets` contiguous
        spans read side by side (striped into every batch); inside a span each sample delayed by
        a random amount under `window / buckets` positions. A reader therefore only ever needs
        the stretch of each span the window covers: it fetches those samples in large range reads
        of consecutive samples (shards.py) and drops them after their last use.
    partition(total, seen, world, batch_size, tail)
        this worker's positions in G. The remaining positions G[seen:] are first cut to equal
        per-rank counts by the tail policy: `drop` discards fewer than world_size trailing
        positions, `wrap` repeats the first positions of G (reported as padding). Rank r then
        takes every world_size-th position (r, r + R, ...), or, for an order in stored order,
        every world_size-th batch of consecutive positions, so after each synchronous training
        step all ranks together have consumed exactly a prefix of G: progress is one integer
        (samples_seen) and a resumed job continues G exactly on any world size. Inside a rank,
        consecutive batches go to DataLoader workers round robin, the order DataLoader returns
        them in, so the rank's stream is its share of G in order for any worker count.
    mix_schedule(probs, length, seed, epoch, key)   which dataset fills each position of a mix
    sample_rng(seed, epoch, position)               per-sample generator for random transforms
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Sequence

import numpy as np

TAILS = ("wrap", "drop")
_MIX_STREAM = 0x6D6978  # separates the mixing schedule's stream from the sample orders'
_SAMPLE_STREAM = 0x736D70


@dataclass(frozen=True)
class World:
    """Where this iterator runs: built once at the edge (stream.detect_world), read everywhere else."""

    rank: int = 0
    world_size: int = 1
    worker: int = 0
    num_workers: int = 1

    def __post_init__(self) -> None:
        if not (0 <= self.rank < self.world_size and 0 <= self.worker < self.num_workers):
            raise ValueError(f"inconsistent world {self}: need 0 <= rank < world_size and 0 <= worker < num_workers")


@dataclass(frozen=True)
class Partition:
    """One worker's share of an epoch.

    Args:
        positions: int64 [n], indices into the epoch's global order, in reading order
            (already wrapped: padding repeats early positions).
        per_rank: samples every rank yields this epoch from `seen` on (equal by construction).
        padding: positions repeated across all ranks to even out the tail (`wrap`).
        dropped: trailing positions nobody reads (`drop`).
    """

    positions: np.ndarray
    per_rank: int
    padding: int
    dropped: int


def manifest_key(manifest_sha256: str) -> int:
    """A 64-bit integer from the manifest hash: two datasets with one seed still get different orders."""
    return int(manifest_sha256[:16], 16)


def _check_words(words: tuple[int, ...]) -> None:
    if any(w < 0 for w in words):
        raise ValueError(f"seed, epoch and key must be non-negative integers, got {words}")


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (Steele, Lea and Flood 2014): a bijection of uint64 words in
    which every input bit flips about half of the output bits."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class Draws:
    """Uniform draws of the stream that `words` (seed, epoch, ...) select: SplitMix64 over a counter.

    The plan's draws are integer arithmetic on uint64 arrays, so the same words give the same order
    on every machine and numpy version (numpy promises stable streams for its bit generators, not
    for Generator.permutation or .random), and a reader never imports numpy.random, whose extension
    modules cost a shuffled reader ~2.7 MB of RSS. Successive calls continue one stream.
    """

    def __init__(self, *words: int):
        words = tuple(operator.index(w) for w in words)  # numpy integers too (a seed or epoch from an array)
        _check_words(words)
        state = np.zeros(1, dtype=np.uint64)
        for word in words:  # any size: its 32-bit limbs, after their count, so no two tuples share a key
            limbs = [(word >> shift) & 0xFFFFFFFF for shift in range(0, max(word.bit_length(), 1), 32)]
            for limb in (len(limbs), *limbs):
                state = _mix64((state + _GOLDEN) ^ np.uint64(limb))
        self.key = state
        self.drawn = 0

    def random(self, n: int) -> np.ndarray:
        """float64 [n], uniform in [0, 1) with 53 random bits each."""
        counter = np.arange(self.drawn + 1, self.drawn + 1 + n, dtype=np.uint64)
        self.drawn += n
        return (_mix64(self.key + counter * _GOLDEN) >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def permutation(self, n: int) -> np.ndarray:
        """int64 [n]: a uniformly random permutation of range(n) (ties of 53-bit keys kept in order)."""
        return np.argsort(self.random(n), kind="stable").astype(np.int64)


def spread(n: int, window: int, rng: Draws) -> np.ndarray:
    """A permutation of range(n) in which item q moves to where q + uniform[0, window) sorts: an item
    lands at most `window` places from where it stood, and every stretch of `window` consecutive
    items is mixed (a sliding window, so no block boundaries)."""
    return np.argsort(np.arange(n) + rng.random(n) * window, kind="stable").astype(np.int64)


def epoch_order(
    shard_counts: Sequence[int],
    seed: int,
    epoch: int,
    key: int,
    shuffle: bool = True,
    window: int = 1024,
    cycle: int = 0,
    buckets: int = 8,
) -> np.ndarray:
    """The global order of one epoch.

    Args:
        shard_counts: samples per shard, in manifest order.
        seed, epoch: the run's seed and the epoch; both select the order.
        key: manifest_key(manifest hash).
        shuffle: False gives manifest order (shards in order, samples in shard order).
        window: how far (in positions of G) a sample may move from its place in the shard stream;
            a reader holds about this many samples (module docstring).
        cycle: distinguishes repeated passes over one dataset inside one mixed epoch.
        buckets: spans of the shard stream read side by side; each run of `buckets` positions
            takes one sample from each span.

    Returns:
        int64 [N, 2]: (shard index, sample index inside the shard) for each position.
    """
    counts = np.asarray(shard_counts, dtype=np.int64)
    if window < 1 or buckets < 1:
        raise ValueError(f"shuffle window and buckets must be at least 1, got {window} and {buckets}")
    if shuffle:
        rng = Draws(seed, epoch, cycle, key)
        shards = rng.permutation(len(counts))
    else:
        _check_words((seed, epoch, cycle, key))
        shards = np.arange(len(counts))
    sizes = counts[shards]
    total = int(sizes.sum())
    first = np.cumsum(sizes) - sizes
    shard_of = np.repeat(shards, sizes)
    sample_of = np.arange(total, dtype=np.int64) - np.repeat(first, sizes)
    if shuffle and total:
        nb = min(buckets, total)
        edges = np.arange(nb + 1, dtype=np.int64) * total // nb
        # each span spread inside itself; then position i of G takes the span whose next item is due
        # soonest (item r of a span of length L is due at (r + 0.5) / L): plain striping for equal spans
        inside = np.concatenate([a + spread(b - a, max(1, window // nb), rng) for a, b in zip(edges[:-1], edges[1:])])
        span = np.repeat(np.arange(nb), np.diff(edges))
        due = (np.arange(total) - edges[span] + 0.5) / np.diff(edges)[span]
        perm = inside[np.lexsort((span, due))]
        shard_of, sample_of = shard_of[perm], sample_of[perm]
    return np.stack([shard_of, sample_of], axis=1).astype(np.int64)


def per_rank_count(remaining: int, world_size: int, tail: str) -> int:
    """Samples each rank yields from `remaining` positions under the tail policy."""
    if tail not in TAILS:
        raise ValueError(f"tail policy must be one of {TAILS}, got {tail!r}")
    remaining = max(remaining, 0)
    return remaining // world_size if tail == "drop" else -(-remaining // world_size)


def partition(total: int, seen: int, world: World, batch_size: int | None = None, tail: str = "wrap",
              blocks: bool = False) -> Partition:
    """This worker's positions of an epoch of `total` positions, `seen` of which are consumed.

    Args:
        total: length of the epoch's global order.
        seen: positions already consumed by all ranks together (a state_dict's samples_seen).
        world: rank, world size, worker, number of workers.
        batch_size: DataLoader batch size; batches go to workers round robin (None: 1 sample).
        tail: `wrap` (repeat early positions) or `drop` (discard the last few).
        blocks: rank r takes whole batches of consecutive positions (batches r, r + R, ...; of the
            last round, shorter than a batch per rank, the r-th equal run) instead of every R-th
            position. After each step all ranks have still consumed a prefix, and a rank reads runs
            of consecutive samples: for an order in stored order, where every R-th sample costs a
            range GET of its own from S3.
    """
    remaining = max(total - seen, 0)
    per_rank = per_rank_count(remaining, world.world_size, tail)
    span = per_rank * world.world_size
    step = batch_size or 1
    # this rank's offsets into the (padded) remainder, shape [per_rank]
    if blocks and step > 1:
        full, last = divmod(per_rank, step)  # whole batches each rank takes, then a shorter last one
        starts = (world.rank + world.world_size * np.arange(full, dtype=np.int64)) * step
        mine = np.concatenate([(starts[:, None] + np.arange(step, dtype=np.int64)).ravel(),
                               full * step * world.world_size + world.rank * last + np.arange(last, dtype=np.int64)])
    else:
        mine = np.arange(world.rank, span, world.world_size, dtype=np.int64)
    batch_of = np.arange(per_rank, dtype=np.int64) // step
    mine = mine[batch_of % world.num_workers == world.worker]
    positions = seen + mine
    if total:
        positions = np.where(positions >= total, (positions - total) % total, positions)
    return Partition(positions=positions, per_rank=per_rank, padding=max(span - remaining, 0), dropped=max(remaining - span, 0))


def mix_schedule(probs: Sequence[float], length: int, seed: int, epoch: int, key: int) -> tuple[np.ndarray, np.ndarray]:
    """Which dataset fills each position of a mixed epoch, in exact proportions.

    Dataset d's k-th position falls at time (k + u_d) / p_d with a random phase u_d per epoch;
    sorting all times interleaves the datasets smoothly: every prefix of m positions holds
    dataset d within 1 + p_d * (D - 2) samples of m * p_d (exactly within 1 for two datasets),
    where independent random draws would drift by about sqrt(m).

    Returns:
        (dataset int64 [length], occurrence int64 [length]): the dataset of each position and how
        many earlier positions the same dataset already filled.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 1 or not len(p) or (p < 0).any() or not np.isfinite(p).all() or p.sum() <= 0:
        raise ValueError(f"mixing probabilities must be non-negative and sum to a positive number, got {list(probs)}")
    p = p / p.sum()
    phase = Draws(seed, epoch, _MIX_STREAM, key).random(len(p))
    quota = np.where(p > 0, np.ceil(length * p).astype(np.int64) + len(p) + 1, 0)
    which = np.repeat(np.arange(len(p), dtype=np.int64), quota)
    occurrence = np.concatenate([np.arange(q, dtype=np.int64) for q in quota])
    times = (occurrence + phase[which]) / np.where(p > 0, p, 1.0)[which]
    order = np.argsort(times, kind="stable")[:length]
    return which[order], occurrence[order]


def temperature_probs(sizes: Sequence[int], temperature: float) -> np.ndarray:
    """p_d proportional to size_d ** (1 / T): T = 1 follows the sizes, large T tends to uniform."""
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    s = np.asarray(sizes, dtype=np.float64)
    w = np.where(s > 0, s ** (1.0 / temperature), 0.0)
    return w / w.sum()


def sample_rng(seed: int, epoch: int, position: int, key: int = 0) -> np.random.Generator:
    """The generator a random transform gets for one sample: fixed by where the sample sits in the
    epoch, not by which rank or worker happens to read it (numpy's, for its full API: a reader
    imports numpy.random only when it has a transform)."""
    words = [seed, epoch, _SAMPLE_STREAM, key, position]
    _check_words(tuple(words))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))
