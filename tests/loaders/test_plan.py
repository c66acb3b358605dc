"""plan.py: the epoch order and its partition across ranks and workers, as properties."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from climb.loaders.plan import (
    Draws,
    World,
    epoch_order,
    mix_schedule,
    partition,
    per_rank_count,
    sample_rng,
    spread,
    temperature_probs,
)

KEY = 0x1234ABCD

counts_st = st.lists(st.integers(0, 40), min_size=1, max_size=12)
worlds_st = st.tuples(st.integers(1, 5), st.integers(1, 4))
batch_st = st.one_of(st.none(), st.integers(1, 7))
tail_st = st.sampled_from(["wrap", "drop"])
# how long an example takes is no property of the plan: no deadline, so a loaded machine cannot fail these
PROPERTY = settings(deadline=None)


def shares(total: int, seen: int, ranks: int, workers: int, batch: int | None, tail: str,
           blocks: bool = False) -> dict[tuple[int, int], np.ndarray]:
    return {
        (r, w): partition(total, seen, World(r, ranks, w, workers), batch, tail, blocks).positions
        for r in range(ranks)
        for w in range(workers)
    }


def rank_stream(parts: dict[tuple[int, int], np.ndarray], rank: int, workers: int, batch: int | None) -> list[int]:
    """What DataLoader hands the training loop on one rank: worker batches round robin."""
    step = batch or 1
    queues = [list(parts[(rank, w)]) for w in range(workers)]
    out: list[int] = []
    w = 0
    while any(queues):
        if queues[w]:
            out += queues[w][:step]
            del queues[w][:step]
        w = (w + 1) % workers
    return out


@PROPERTY
@given(counts_st, st.integers(0, 2**32), st.integers(0, 50), st.integers(1, 64))
def test_epoch_order_visits_every_sample_of_every_shard_once(counts, seed, epoch, window):
    order = epoch_order(counts, seed, epoch, KEY, window=window)
    expected = sorted((s, i) for s, n in enumerate(counts) for i in range(n))
    assert sorted(map(tuple, order.tolist())) == expected


@PROPERTY
@given(counts_st, st.integers(0, 2**32), st.integers(0, 50))
def test_epoch_order_is_a_pure_function_of_its_inputs(counts, seed, epoch):
    assert np.array_equal(epoch_order(counts, seed, epoch, KEY), epoch_order(counts, seed, epoch, KEY))


def test_epochs_seeds_and_manifests_each_change_the_order():
    counts = [50] * 8
    base = epoch_order(counts, 0, 0, KEY)
    assert not np.array_equal(base, epoch_order(counts, 0, 1, KEY))
    assert not np.array_equal(base, epoch_order(counts, 1, 0, KEY))
    assert not np.array_equal(base, epoch_order(counts, 0, 0, KEY + 1))


def test_without_shuffle_the_order_is_manifest_order():
    order = epoch_order([2, 3], 7, 3, KEY, shuffle=False)
    assert order.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1], [1, 2]]


@PROPERTY
@given(st.integers(0, 500), st.integers(1, 50), st.integers(0, 2**16))
def test_spread_moves_every_item_less_than_the_window(n, window, seed):
    perm = spread(n, window, Draws(seed))
    assert sorted(perm.tolist()) == list(range(n))
    assert np.all(np.abs(perm - np.arange(n)) < window)


@PROPERTY
@given(st.lists(st.integers(1, 60), min_size=1, max_size=12), st.integers(0, 2**32), st.integers(1, 64), st.integers(1, 6))
def test_each_bucket_takes_its_turn_and_keeps_its_samples_near_their_stream_place(counts, seed, window, buckets):
    """Position i of G comes from bucket i % B (equal buckets): every batch samples B stretches of the
    shard stream, and a reader needs only the window's stretch of each."""
    total = sum(counts)
    order = epoch_order(counts, seed, 0, KEY, window=window, buckets=buckets)
    shards = Draws(seed, 0, 0, KEY).permutation(len(counts))
    # place of every (shard, sample) in the permuted shard stream
    stream = {(int(s), i): p for p, (s, i) in enumerate((s, i) for s in shards for i in range(counts[s]))}
    place = np.array([stream[(s, i)] for s, i in order.tolist()])
    nb = min(buckets, total)
    edges = np.arange(nb + 1) * total // nb
    bucket = np.searchsorted(edges, place, side="right") - 1
    if total % nb == 0:
        assert np.array_equal(bucket, np.arange(total) % nb)
    for b in range(nb):
        inside = place[bucket == b] - edges[b]
        assert np.all(np.abs(inside - np.arange(len(inside))) < max(1, window // nb))


def test_a_window_of_the_order_touches_only_a_few_shards_per_bucket():
    order = epoch_order([100] * 40, 3, 0, KEY, window=40, buckets=4)
    for block in order.reshape(-1, 40, 2):
        assert len(np.unique(block[:, 0])) <= 4 * 3


def test_buckets_and_windows_beyond_the_dataset_are_clamped_and_nonsense_refused():
    assert sorted(map(tuple, epoch_order([2, 1], 0, 0, KEY, window=10**6, buckets=50).tolist())) == [(0, 0), (0, 1), (1, 0)]
    with pytest.raises(ValueError):
        epoch_order([3], 0, 0, KEY, buckets=0)


@settings(PROPERTY, max_examples=200)
@given(st.integers(0, 200), worlds_st, batch_st)
def test_drop_gives_every_position_at_most_once_and_equal_rank_counts(total, world, batch):
    ranks, workers = world
    parts = shares(total, 0, ranks, workers, batch, "drop")
    everything = np.concatenate(list(parts.values()))
    assert len(np.unique(everything)) == len(everything)
    assert len(everything) == total - total % ranks
    per_rank = {r: sum(len(parts[(r, w)]) for w in range(workers)) for r in range(ranks)}
    assert set(per_rank.values()) == {total // ranks}


@settings(PROPERTY, max_examples=200)
@given(st.integers(1, 200), worlds_st, batch_st)
def test_wrap_covers_everything_and_pads_with_the_declared_duplicates(total, world, batch):
    ranks, workers = world
    parts = shares(total, 0, ranks, workers, batch, "wrap")
    everything = np.concatenate(list(parts.values()))
    pad = partition(total, 0, World(0, ranks, 0, workers), batch, "wrap").padding
    assert set(everything.tolist()) == set(range(total))
    assert len(everything) == total + pad
    assert pad == (-total) % ranks
    expected = 1 + np.bincount(np.arange(pad) % total, minlength=total)
    assert np.array_equal(np.bincount(everything, minlength=total), expected)
    per_rank = {sum(len(parts[(r, w)]) for w in range(workers)) for r in range(ranks)}
    assert per_rank == {per_rank_count(total, ranks, "wrap")}


@PROPERTY
@given(st.integers(0, 150), worlds_st, batch_st, tail_st)
def test_each_rank_stream_is_its_strided_share_of_the_global_order(total, world, batch, tail):
    ranks, workers = world
    parts = shares(total, 0, ranks, workers, batch, tail)
    n = per_rank_count(total, ranks, tail)
    for r in range(ranks):
        expected = [(r + i * ranks) % total for i in range(n)] if total else []
        assert rank_stream(parts, r, workers, batch) == expected


@settings(PROPERTY, max_examples=200)
@given(st.integers(1, 150), worlds_st, worlds_st, batch_st, batch_st, tail_st, st.data())
def test_resuming_on_another_world_continues_the_global_order(total, world, new_world, batch, new_batch, tail, data):
    """Stop after k synchronous steps, resume with any world: the consumed prefix plus the rest is G."""
    ranks, workers = world
    n = per_rank_count(total, ranks, tail)
    k = data.draw(st.integers(0, n))
    before = {r: rank_stream(shares(total, 0, ranks, workers, batch, tail), r, workers, batch)[:k] for r in range(ranks)}
    consumed = sorted(p for r in range(ranks) for p in before[r])
    seen = k * ranks
    assert consumed == sorted(p % total for p in range(seen))
    ranks2, workers2 = new_world
    after = shares(total, seen, ranks2, workers2, new_batch, tail)
    rest = sorted(np.concatenate(list(after.values())).tolist())
    remaining = max(total - seen, 0)
    span = per_rank_count(remaining, ranks2, tail) * ranks2
    assert rest == sorted((seen + i) % total for i in range(span))


@PROPERTY
@given(st.integers(1, 120), worlds_st, batch_st, tail_st, st.data())
def test_resume_on_the_same_world_is_exactly_the_suffix_of_each_rank(total, world, batch, tail, data):
    ranks, workers = world
    n = per_rank_count(total, ranks, tail)
    k = data.draw(st.integers(0, n))
    full = shares(total, 0, ranks, workers, batch, tail)
    resumed = shares(total, k * ranks, ranks, workers, batch, tail)
    for r in range(ranks):
        assert rank_stream(resumed, r, workers, batch) == rank_stream(full, r, workers, batch)[k:]


@settings(PROPERTY, max_examples=200)
@given(st.integers(0, 200), worlds_st, st.integers(2, 7), tail_st, st.data())
def test_in_blocks_each_rank_reads_whole_batches_and_every_step_consumes_a_prefix(total, world, batch, tail, data):
    """Stored order from S3: a rank's batch is a run of consecutive positions (one range GET, not one
    per sample), and what all ranks consumed after each step is still a prefix of the order."""
    ranks, workers = world
    parts = shares(total, 0, ranks, workers, batch, tail, blocks=True)
    strided = shares(total, 0, ranks, workers, batch, tail)
    assert sorted(np.concatenate(list(parts.values())).tolist()) == sorted(np.concatenate(list(strided.values())).tolist())
    n = per_rank_count(total, ranks, tail)
    streams = {r: rank_stream(parts, r, workers, batch) for r in range(ranks)}
    assert {len(x) for x in streams.values()} <= {n}
    for k in [*range(0, n - n % batch + 1, batch), n]:
        consumed = sorted(p for r in range(ranks) for p in streams[r][:k])
        assert consumed == sorted(p % total for p in range(k * ranks)) if total else consumed == []
    for r in range(ranks):
        for b in range(n // batch):
            run = streams[r][b * batch:(b + 1) * batch]
            assert run == list(range(run[0], run[0] + batch)) or total < (b + 1) * batch * ranks  # a wrapped run restarts at 0
    k = data.draw(st.integers(0, n // batch)) * batch
    ranks2, workers2 = data.draw(worlds_st)
    rest = np.concatenate(list(shares(total, k * ranks, ranks2, workers2, batch, tail, blocks=True).values()))
    span = per_rank_count(max(total - k * ranks, 0), ranks2, tail) * ranks2
    assert sorted(rest.tolist()) == sorted((k * ranks + i) % total for i in range(span))


def test_more_workers_than_batches_leaves_idle_workers_empty():
    parts = shares(5, 0, 1, 4, 4, "wrap")
    assert [len(parts[(0, w)]) for w in range(4)] == [4, 1, 0, 0]


def test_a_single_sample_on_three_ranks_wraps_to_one_each():
    wrapped = shares(1, 0, 3, 1, None, "wrap")
    assert [wrapped[(r, 0)].tolist() for r in range(3)] == [[0], [0], [0]]
    dropped = shares(1, 0, 3, 1, None, "drop")
    assert [dropped[(r, 0)].tolist() for r in range(3)] == [[], [], []]


def test_resuming_past_the_end_yields_nothing():
    assert len(partition(10, 12, World(0, 2, 0, 1), None, "wrap").positions) == 0


def test_bad_world_and_tail_are_refused():
    with pytest.raises(ValueError):
        World(rank=2, world_size=2)
    with pytest.raises(ValueError):
        partition(10, 0, World(), None, "pad")


@PROPERTY
@given(st.lists(st.floats(0.05, 5), min_size=1, max_size=5), st.integers(1, 400), st.integers(0, 99))
def test_mix_schedule_keeps_every_prefix_close_to_its_share(weights, length, epoch):
    which, occurrence = mix_schedule(weights, length, 0, epoch, KEY)
    p = np.asarray(weights) / sum(weights)
    assert len(which) == length
    for d in range(len(weights)):
        hits = np.cumsum(which == d)
        bound = 1 + p[d] * max(len(weights) - 2, 0)
        assert np.all(np.abs(hits - np.arange(1, length + 1) * p[d]) <= bound + 1e-9)
        assert occurrence[which == d].tolist() == list(range(int(hits[-1])))


def test_mix_schedule_skips_zero_weights_and_is_deterministic():
    a = mix_schedule([1, 0, 3], 100, 5, 2, KEY)
    assert not (a[0] == 1).any()
    assert all(np.array_equal(x, y) for x, y in zip(a, mix_schedule([1, 0, 3], 100, 5, 2, KEY)))


def test_temperature_flattens_the_size_distribution():
    sizes = [1000, 10]
    assert temperature_probs(sizes, 1.0)[0] == pytest.approx(1000 / 1010)
    assert temperature_probs(sizes, 1e9)[0] == pytest.approx(0.5)


def test_sample_rng_depends_on_position_not_on_who_reads():
    a = sample_rng(1, 2, 3).integers(0, 2**31, 4)
    assert np.array_equal(a, sample_rng(1, 2, 3).integers(0, 2**31, 4))
    assert not np.array_equal(a, sample_rng(1, 2, 4).integers(0, 2**31, 4))


def test_the_shuffle_is_pinned_so_every_machine_and_numpy_version_reads_the_same_order():
    assert Draws(0).random(3).tolist() == [0.9844383619111032, 0.2859423389593416, 0.5671141420941085]
    assert Draws(7, 1, 0, KEY).permutation(8).tolist() == [0, 7, 6, 3, 1, 2, 4, 5]
    assert epoch_order([3, 2, 4], 7, 1, KEY, window=4, buckets=2).tolist() == [
        [1, 1], [0, 0], [2, 0], [0, 1], [2, 1], [1, 0], [2, 2], [0, 2], [2, 3]]


def test_draws_are_uniform_and_their_permutations_unbiased():
    counts = np.bincount((Draws(3, 1).random(100_000) * 10).astype(int), minlength=10)
    assert ((counts - 10_000) ** 2 / 10_000).sum() < 40  # chi-square, 9 degrees of freedom: p < 1e-5
    firsts = np.bincount([Draws(5, trial).permutation(4)[0] for trial in range(4_000)], minlength=4)
    assert ((firsts - 1_000) ** 2 / 1_000).sum() < 25  # 3 degrees of freedom


def test_each_tuple_of_words_has_its_own_stream_and_later_draws_continue_it():
    firsts = {words: Draws(*words).random(1)[0] for words in [(1, 2), (1, 2, 0), (12,), (2, 1), (2**32 + 1,), (1, 1 << 32), ()]}
    assert len(set(firsts.values())) == len(firsts)
    draws = Draws(9, 9)
    assert np.array_equal(np.concatenate([draws.random(4), draws.random(6)]), Draws(9, 9).random(10))
    with pytest.raises(ValueError, match="non-negative"):
        Draws(1, -1)
    with pytest.raises(TypeError):
        Draws(1.5)


def test_numpy_integers_select_the_same_order_as_python_ones():
    assert np.array_equal(epoch_order([3, 4], np.int64(2), np.int32(1), KEY), epoch_order([3, 4], 2, 1, KEY))
    assert np.array_equal(mix_schedule([0.5, 0.5], 9, np.int64(2), 1, KEY)[0], mix_schedule([0.5, 0.5], 9, 2, 1, KEY)[0])


def test_a_shuffled_plan_never_imports_numpy_random():
    code = ("import sys; from climb.loaders.plan import epoch_order, mix_schedule; "
            "epoch_order([5, 7], 1, 2, 3); mix_schedule([0.5, 0.5], 10, 1, 2, 3); print('numpy.random' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _rank_reads(counts: list[int], ranks: int, buckets: int, window: int) -> np.ndarray:
    order = epoch_order(counts, 0, 0, KEY, window=window, buckets=buckets)
    return order[partition(len(order), 0, World(0, ranks, 0, 1), 32).positions]


@pytest.mark.parametrize("ranks", [8, 64])
def test_buckets_per_rank_give_each_rank_batches_of_many_shards_and_whole_runs_of_each(ranks):
    """Why ClimbDataset scales the buckets with the world: a rank takes every world_size-th position
    and the buckets are striped into them, so with a fixed 8 a rank of 8 or more reads one or two
    stretches, and past 8 only every few samples of them (a GET per sample from S3)."""
    counts = [240] * 64
    for buckets, window, many in ((8, 189, False), (8 * ranks, 189 * ranks, True)):
        reads = _rank_reads(counts, ranks, buckets, window)
        shards_per_batch = np.mean([len(np.unique(b[:, 0])) for b in reads[: len(reads) // 32 * 32].reshape(-1, 32, 2)])
        stride = np.median(np.diff(np.sort(reads[:, 0] * 1000 + reads[:, 1])))  # typical gap between a rank's samples
        if many:
            assert shards_per_batch >= 7 and stride == 1
        else:
            assert shards_per_batch <= 2.5 and (ranks == 8 or stride > 4)  # > 4 x 266 KB: past a 1 MiB merge gap
