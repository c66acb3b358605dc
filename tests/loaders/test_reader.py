"""shards.SampleReader: an object store is read in pieces of consecutive samples, each fetched once,
ahead of use, and held only while the shuffle window needs it."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
import torch
from fsspec.implementations.memory import MemoryFileSystem

from climb.loaders import ClimbDataset, shards
from climb.loaders.io import RetryPolicy
from climb.loaders.plan import epoch_order
from climb.loaders.shards import DatasetInfo, SampleReader, SharedCache

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")


@pytest.fixture
def remote(dataset):
    """The dataset copied into fsspec's in-memory filesystem: a remote store without a server."""
    mem = MemoryFileSystem()
    for path in Path(dataset).rglob("*"):
        if path.is_file() and "volumes.zarr" not in path.parts:
            mem.pipe_file(f"/pieces/{path.relative_to(dataset)}", path.read_bytes())
    yield "memory://pieces"
    mem.rm("/pieces", recursive=True)


@pytest.mark.parametrize("batch_size", [None, 8])
def test_shuffled_remote_reads_fetch_each_piece_once_in_one_request(remote, dataset, monkeypatch, batch_size):
    monkeypatch.setattr(SampleReader, "PIECE_BYTES", 60_000)
    requests: list[tuple[str, int, int]] = []
    original = MemoryFileSystem.cat_ranges

    def recording(self, paths, starts, ends, **kwargs):
        requests.extend(zip(paths, starts, ends))
        return original(self, paths, starts, ends, **kwargs)

    monkeypatch.setattr(MemoryFileSystem, "cat_ranges", recording)
    options = {"seed": 3, "shuffle_window": 12, "shuffle_buckets": 3, "modalities": ("signal", "image"), "batch_size": batch_size}
    got = list(ClimbDataset(remote, split="train", **options))
    expected = list(ClimbDataset(str(dataset), split="train", **options))
    assert [s["__key__"] for s in got] == [s["__key__"] for s in expected]
    assert all(torch.equal(a["signal"], b["signal"]) for a, b in zip(got, expected) if "signal" in a)
    shards = [r for r in requests if r[0].endswith(".tar")]
    assert len(shards) < len(got) / 2  # pieces, not samples
    for path in {p for p, _, _ in shards}:
        spans = sorted((s, e) for p, s, e in shards if p == path)
        assert all(e <= s2 for (_, e), (s2, _) in zip(spans, spans[1:]))  # no byte fetched twice


def reader_for(counts: list[int], sample_bytes: int, sequential: bool = False) -> SampleReader:
    shards = tuple({"path": f"shards/{i}.tar", "bytes": n * sample_bytes, "num_samples": n, "sha256": "0" * 64,
                    "index": f"shards/{i}.idx"} for i, n in enumerate(counts))
    info = DatasetInfo(url="memory://nowhere", manifest={}, sha256="0" * 64, split="train", shards=shards)
    return SampleReader([info], [None], [None], RetryPolicy(), [None], sequential=sequential)


def test_a_reader_in_stored_order_fetches_fewer_larger_pieces_fewer_ahead():
    """No buckets hold pieces at once in stored order, so its GETs can be larger for the memory a
    shuffled reader holds."""
    counts, sample_bytes = [400] * 4, 256 << 10
    reads = in_manifest_order(counts)
    shuffled, stored = reader_for(counts, sample_bytes), reader_for(counts, sample_bytes, sequential=True)
    piece = stored.STORED_PIECE_BYTES // sample_bytes  # 128 samples; the first job is the first batch's (one sample here)
    assert [len(j) for j in stored.jobs(reads)] == [1, piece - 1, piece, piece, 16] + [piece, piece, piece, 16] * 3
    assert len(shuffled.jobs(reads)) == 1 + 4 * -(-400 // (shuffled.PIECE_BYTES // sample_bytes))  # 32 samples a piece
    assert stored.ahead * stored.piece_bytes <= 3 * shuffled.ahead * shuffled.piece_bytes


def test_a_worker_plans_its_fetches_and_shared_pieces_without_importing_numpy_ma():
    """numpy.ma costs a new process 6-14 ms on its first np.unique, and DataLoader workers are new
    processes every epoch (shards.distinct)."""
    code = """
import sys
import numpy as np
from climb.loaders.io import RetryPolicy
from climb.loaders.plan import epoch_order
from climb.loaders.shards import DatasetInfo, SampleReader
counts = [100] * 4
shards = tuple({"path": f"shards/{i}.tar", "bytes": n << 18, "num_samples": n, "sha256": "0" * 64, "index": f"shards/{i}.idx"}
               for i, n in enumerate(counts))
info = DatasetInfo(url="memory://nowhere", manifest={}, sha256="0" * 64, split="train", shards=shards)
reader = SampleReader([info], [None], [None], RetryPolicy(), [None])
order = epoch_order(counts, 0, 0, 1, window=200, buckets=1)  # both workers read every piece
reads = np.concatenate([np.zeros((len(order), 1), dtype=np.int64), order], axis=1)
peers = [reads[0::2], reads[1::2]]
assert reader.jobs(peers[0]) and reader.shared_pieces(peers, [reader.piece_keys(p) for p in peers], 0)
print("numpy.ma" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("window, buckets", [(40, 1), (80, 4), (200, 8)])
def test_a_reader_holds_about_one_window_of_pieces(window, buckets):
    """Jobs live from first to last use: at most the window's share of each bucket, in pieces, plus
    the piece being finished on each side, stay held at once."""
    counts, sample_bytes = [100] * 40, 1 << 20
    reader = reader_for(counts, sample_bytes)
    piece = reader.PIECE_BYTES // sample_bytes
    order = epoch_order(counts, 0, 0, 1, window=window, buckets=buckets)
    reads = np.concatenate([np.zeros((len(order), 1), dtype=np.int64), order], axis=1)
    jobs = reader.jobs(reads)
    assert sorted(np.concatenate(jobs).tolist()) == list(range(len(reads)))
    for job in jobs:
        assert len(np.unique(reads[job, 1])) == 1 and np.ptp(reads[job, 2]) < piece
    first = np.array([j.min() for j in jobs])
    last = np.array([j.max() for j in jobs])
    live = max(int(((first <= i) & (last >= i)).sum()) for i in range(0, len(reads), 7))
    assert live <= buckets * (window // buckets // piece + 3)


def in_manifest_order(counts: list[int]) -> np.ndarray:
    order = epoch_order(counts, 0, 0, 1, shuffle=False)
    return np.concatenate([np.zeros((len(order), 1), dtype=np.int64), order], axis=1)


def test_the_first_batch_is_one_job_of_a_few_spans():
    """The first batch waits for all of its samples: one job sends their GETs out together, one GET
    per span of nearby samples (with what this reader reads in between), not whole pieces."""
    counts, sample_bytes = [100] * 40, 100_000
    reader = reader_for(counts, sample_bytes)
    reader.first_chunk = 32
    order = epoch_order(counts, 0, 0, 1, window=200, buckets=8)
    reads = np.concatenate([np.zeros((len(order), 1), dtype=np.int64), order], axis=1)
    spans = reader.head_spans(reads)
    inside = [r for r, (_, shard, sample) in enumerate(reads.tolist())
              if any(lo <= sample <= hi for lo, hi in spans.get((0, shard), []))]
    jobs = reader.jobs(reads)
    assert sorted(jobs[0].tolist()) == inside and set(range(32)) < set(inside)
    assert sum(len(runs) for runs in spans.values()) < 16
    piece = reader.PIECE_BYTES // sample_bytes
    assert all(len({(int(reads[r, 1]), int(reads[r, 2]) // piece) for r in job}) == 1 for job in jobs[1:])


class InlineExecutor:
    """A fetch pool that runs each job as it is submitted, so the order of fetches is observable."""

    def __init__(self, *args, **kwargs):
        pass

    def submit(self, fn, *args):
        future = Future()
        future.set_result(fn(*args))
        return future

    def shutdown(self, **kwargs):
        pass


@pytest.fixture
def fetches(monkeypatch):
    """Every fetch job a SampleReader runs, in order, as (read numbers, the list it returned)."""
    monkeypatch.setattr(shards, "ThreadPoolExecutor", InlineExecutor)
    done: list[tuple[list[int], list]] = []

    def fetch(self, reads, which, starts):
        items = [(f"sample{r}", {"json": b"{}"}) for r in which.tolist()]
        done.append((which.tolist(), items))
        return items

    monkeypatch.setattr(SampleReader, "_fetch", fetch)
    return done


def test_nothing_is_fetched_ahead_until_the_first_batch_is_handed_over(fetches):
    reader = reader_for([100] * 4, 1 << 20)
    reader.first_chunk = 8
    samples = reader.samples(in_manifest_order([100] * 4))
    assert [next(samples)[0] for _ in range(8)] == [f"sample{r}" for r in range(8)]
    assert [reads for reads, _ in fetches] == [list(range(8))]
    next(samples)
    assert len(fetches) == 2 + reader.ahead and fetches[1][0][0] == 8


def test_a_sample_handed_over_is_no_longer_held_by_its_fetch_job(fetches):
    reader = reader_for([100], 1 << 20)
    reader.first_chunk = 4
    samples = reader.samples(in_manifest_order([100]))
    key, _ = next(samples)
    _, items = fetches[0]
    assert key == "sample0" and items[0] is None and items[1] is not None


@pytest.mark.parametrize("sample_bytes", [2_000, 200_000, 3_000_000])
def test_local_reads_are_laid_out_in_runs_of_bounded_samples_and_bytes(sample_bytes):
    reader = reader_for([100] * 3, sample_bytes)
    reader.remote = False
    reads = np.concatenate([np.zeros((300, 1), dtype=np.int64), epoch_order([100] * 3, 0, 0, 1)], axis=1)
    jobs = reader.jobs(reads)
    assert np.array_equal(np.concatenate(jobs), np.arange(300))  # consecutive reads, in order
    most = min(reader.LOCAL_JOB_SAMPLES, reader.LOCAL_JOB_BYTES // sample_bytes + 1)
    assert all(1 <= len(j) <= most for j in jobs) and len(jobs) <= 2 * 300 // most + 2


def test_a_key_asked_for_while_it_loads_is_loaded_once():
    cache = SharedCache(lambda key: key, size=4)
    first, mine = cache.claim(("shard", 3))
    again, also_mine = cache.claim(("shard", 3))
    assert mine and not also_mine and again is first


def test_a_failed_load_is_forgotten_so_the_next_asker_loads_again():
    outcomes = iter([OSError("reset"), ["parsed index"]])

    def load(shard: int) -> list[str]:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    cache = SharedCache(load, size=4)
    with pytest.raises(OSError):
        cache(7)
    assert cache(7) == ["parsed index"] and cache(7) == ["parsed index"]


def test_keys_loaded_together_skip_those_already_held_and_forget_a_failed_round():
    rounds = []

    def load_many(keys: list) -> list:
        rounds.append([k for (k,) in keys])
        if len(rounds) == 2:
            raise ConnectionResetError("reset")
        return [f"index {k}" for (k,) in keys]

    cache = SharedCache(lambda key: pytest.fail(f"index {key} loaded on its own"), size=8)
    cache.load_together([(1,), (2,)], load_many)
    with pytest.raises(ConnectionResetError):
        cache.load_together([(2,), (3,), (4,)], load_many)
    cache.load_together([(3,), (4,)], load_many)
    assert rounds == [[1, 2], [3, 4], [3, 4]]
    assert [cache(k) for k in (1, 2, 3, 4)] == ["index 1", "index 2", "index 3", "index 4"]


def test_the_shared_cache_keeps_only_its_most_recent_keys():
    loads = []
    cache = SharedCache(lambda key: loads.append(key) or key, size=2)
    for key in (1, 2, 1, 3, 1, 2):
        cache(key)
    assert loads == [1, 2, 3, 2]


def _index_bytes(count: int) -> tuple[bytes, dict]:
    """A .idx of `count` samples; every third lacks its image member (a sample without that modality)."""
    samples, pos = [], 0
    for i in range(count):
        members = {"json": [pos + 512, 300]} if i % 3 == 2 else {"image.png": [pos + 512, 18000], "json": [pos + 19456, 300]}
        samples.append({"key": f"{i:024x}", "offset": pos, "size": 20480, "members": members})
        pos += 20480
    raw = json.dumps({"version": 1, "shard": "train-00000.tar", "samples": samples}).encode()
    return raw, {"path": "shards/train-00000.tar", "index": "shards/train-00000.idx", "bytes": pos, "num_samples": count}


def test_a_parsed_index_gives_every_sample_its_key_and_ranges_as_the_idx_lists_them():
    raw, shard = _index_bytes(30)
    index = shards.parse_index(raw, shard)
    listed = json.loads(raw)["samples"]
    assert len(index) == len(listed)
    for i, entry in enumerate(listed):
        key, offset, size, members = index.sample(i)
        assert (key, offset, size) == (entry["key"], entry["offset"], entry["size"])
        assert {m: list(span) for m, span in members.items()} == entry["members"]


def test_a_parsed_index_holds_a_fraction_of_the_memory_of_the_parsed_json():
    raw, shard = _index_bytes(5000)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        as_json = json.loads(raw)
        json_bytes = tracemalloc.get_traced_memory()[0] - before
        del as_json
        before = tracemalloc.get_traced_memory()[0]
        index = shards.parse_index(raw, shard)
        index_bytes = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(index) == 5000 and index_bytes < json_bytes / 4


def test_workers_share_a_piece_only_where_their_samples_interleave_finely_or_one_part_is_small():
    reader = reader_for([200], 266_000)  # 1 MiB merge gap: ~4 samples; SHARE_RUN_BYTES: ~8
    piece = (0, 0, 0)

    def worth(parts: dict[int, list[int]]) -> bool:
        samples = np.concatenate([np.asarray(s) for s in parts.values()])
        who = np.concatenate([np.full(len(s), w) for w, s in parts.items()])
        return reader._worth_sharing(piece, samples, who)

    assert not worth({0: list(range(0, 20)), 1: list(range(20, 31))})  # stored order: a run each
    assert worth({0: [0, 1, 2, 3, 8, 9, 10, 11], 1: [4, 5, 6, 7, 12, 13, 14, 15]})  # shuffled: interleaved
    assert worth({0: list(range(0, 27)), 1: [27, 28, 29]})  # 3 samples: a GET of their own costs as much
    batches = {w: [i for i in range(128) if i // 32 % 2 == w] for w in (0, 1)}
    assert not worth(batches)  # stored order, a 32 MiB piece: two whole batches of 32 each
    assert worth({w: [i for i in range(128) if i // 4 % 2 == w] for w in (0, 1)})  # batches of 4
