"""From planned (dataset, shard, sample) reads to each sample's member bytes, in plan order.

The manifest says where shards are and how many samples each holds; each shard's `.idx` says where
every member's bytes sit. A reader gets its whole read list up front (plan.py) and groups it into
jobs. From an object store a job is a piece of consecutive samples of one shard (about 8 MiB: one
merged range GET where a few MiB cost about as much as a tiny read), fetched in one batch (all of a
sample when every member is wanted, else only the wanted members) on background threads a few jobs
ahead of first use, each sample's bytes in a buffer of their own that goes with the sample; the
shuffle keeps each piece's samples inside its window, so a reader holds about one window of samples. Local shards are read
where the samples are decoded, one sample at a time, with the next job announced to the kernel.
Only the indexes of recently used shards stay in memory, as arrays (ShardIndex).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import threading
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator

import numpy as np

from climb.loaders.io import DatasetFiles, RetryPolicy, ShardCache
from climb.loaders.pieces import PieceShare
from climb.schemas.manifest import validate_manifest
from climb.storage import is_local

METADATA = "json"


@dataclass(frozen=True)
class DatasetInfo:
    """One split of one converted dataset, as the loaders see it (picklable, no open handles)."""

    url: str
    manifest: dict[str, Any]
    sha256: str
    split: str
    shards: tuple[dict[str, Any], ...]

    @property
    def counts(self) -> np.ndarray:
        return np.asarray([s["num_samples"] for s in self.shards], dtype=np.int64)

    @property
    def total(self) -> int:
        return int(sum(s["num_samples"] for s in self.shards))


def dataset_root(url: str) -> str:
    """The dataset folder, given it or its manifest.json."""
    url = url.rstrip("/")
    return url[: -len("/manifest.json")] if url.endswith("/manifest.json") else url


def open_dataset(url: str, split: str, storage_options: dict[str, Any] | None, retry: RetryPolicy) -> DatasetInfo:
    """Read manifest.json and select one split's shards (error names the splits that exist)."""
    root = dataset_root(url)
    files = DatasetFiles(root, storage_options, retry, cache=None)
    try:
        raw = files.read_file("manifest.json")
    except FileNotFoundError:
        raise FileNotFoundError(f"no manifest.json under {root}: is this a finished `climb convert` output?") from None
    manifest = json.loads(raw)
    problems = validate_manifest(manifest)
    if problems:
        raise ValueError(f"{root}/manifest.json is not a sound climb manifest: " + "; ".join(problems[:5]))
    if split not in manifest.get("splits", {}):
        raise KeyError(f"{root} has no split {split!r}; it has {sorted(manifest.get('splits', {}))}")
    shards = tuple(s for s in manifest["shards"] if s["split"] == split)
    return DatasetInfo(url=root, manifest=manifest, sha256=hashlib.sha256(raw).hexdigest(), split=split, shards=shards)


@dataclass(frozen=True)
class ShardIndex:
    """One shard's `.idx` as arrays: about 150 bytes a sample where the parsed JSON took about 900.

    A 256 MB shard of 20 KB images lists ~12,800 samples: 11 MB of dicts and lists, and a shuffled
    reader keeps the indexes of up to MAX_INDEXES shards. Member names are stored once per shard.
    """

    keys: list[str]
    spans: np.ndarray
    """int64 [n, 2]: (offset, size) of each sample's tar blocks in the shard."""
    names: tuple[str, ...]
    """The member names of the shard's samples, in the order the index first lists them."""
    members: np.ndarray
    """int64 [n, len(names), 2]: (offset, size) of each member's data; offset -1 where a sample lacks it."""

    def __len__(self) -> int:
        return len(self.keys)

    def sample(self, i: int) -> tuple[str, int, int, dict[str, tuple[int, int]]]:
        """(key, offset, size, {member: (offset, size)} of each member it has, in index order)."""
        offset, size = self.spans[i].tolist()
        have = {name: (start, n) for name, (start, n) in zip(self.names, self.members[i].tolist()) if start >= 0}
        return self.keys[i], offset, size, have


def parse_index(raw: bytes, shard: dict[str, Any]) -> ShardIndex:
    """A shard's .idx, refused (ValueError) unless its bytes are the ones the manifest pins
    (`index_sha256`) and every byte range lies inside the shard.

    Hashing costs microseconds per shard; without it a substituted index would send the reader to
    the wrong bytes. The range checks stay for manifests written before the hash existed, and so
    that a corrupt index fails with a reason instead of making a reader allocate or request
    gigabytes, or crash on a wrong type.
    """
    name, limit = shard["index"], shard["bytes"]
    pinned = shard.get("index_sha256")
    if pinned is not None and hashlib.sha256(raw).hexdigest() != pinned:
        raise ValueError(f"{name} does not match the manifest's index_sha256: the index was changed or "
                         "replaced after conversion; check the dataset with `climb verify`")
    try:
        index = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{name} is not JSON: {exc}") from None
    entries = index.get("samples") if isinstance(index, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{name} has no list of samples")
    if len(entries) != shard["num_samples"]:
        raise ValueError(f"{name} lists {len(entries)} samples, the manifest says {shard['num_samples']}")
    names: dict[str, int] = {}
    keys: list[str] = []
    spans: list[tuple[int, int]] = []
    cells: list[tuple[int, int, int, int]] = []  # (sample, member column, offset, size)
    for i, e in enumerate(entries):
        members = e.get("members") if isinstance(e, dict) else None
        if not isinstance(members, dict) or not isinstance(e.get("key"), str):
            raise ValueError(f"{name}: sample {i} has no key or no members")
        mine = [(e.get("offset"), e.get("size"))] + [tuple(v) if isinstance(v, list) and len(v) == 2 else (None, None) for v in members.values()]
        for start, size in mine:
            if not (type(start) is int and type(size) is int and 0 <= start and 0 <= size and start + size <= limit):
                raise ValueError(f"{name}: sample {i} names bytes [{start}, {start}+{size}) outside the {limit}-byte shard {shard['path']}")
        keys.append(e["key"])
        spans.append(mine[0])
        cells.extend((i, names.setdefault(member, len(names)), *span) for member, span in zip(members, mine[1:]))
    at = np.array(cells, dtype=np.int64).reshape(-1, 4)
    table = np.full((len(entries), len(names), 2), -1, dtype=np.int64)
    table[at[:, 0], at[:, 1]] = at[:, 2:]
    return ShardIndex(keys=keys, spans=np.array(spans, dtype=np.int64).reshape(-1, 2), names=tuple(names), members=table)


def carried_modalities(info: DatasetInfo, storage_options: dict[str, Any] | None, retry: RetryPolicy) -> tuple[str, ...]:
    """The modality fields the dataset's samples carry, so a trainer knows which encoders to build.

    The manifest lists them; a manifest written before it did stands in the first written sample's
    `modalities` (one index and one small range read), which is exact for single-modality datasets
    and the first sample's share of a multimodal one (reconvert to get the full list).
    """
    listed = info.manifest.get("modalities")
    if listed is not None:
        return tuple(listed)
    shard = next((s for s in info.manifest["shards"] if s["num_samples"]), None)
    if shard is None:
        return ()
    files = DatasetFiles(info.url, storage_options, retry, cache=None)
    _, _, _, members = parse_index(files.read_file(shard["index"]), shard).sample(0)
    if METADATA not in members:
        raise ValueError(f"{shard['index']}: its first sample has no {METADATA} member")
    start, size = members[METADATA]
    (meta,) = files.read_ranges([(shard["path"], shard["sha256"], start, start + size)])
    return tuple(json.loads(bytes(meta))["modalities"])


def wanted_members(modalities: tuple[str, ...] | None):
    """Predicate on member names (``image.png`` -> field ``image``); metadata is always read."""
    if modalities is None:
        return lambda member: True
    chosen = set(modalities)
    return lambda member: member == METADATA or member.split(".", 1)[0] in chosen


class SharedCache:
    """The most recent `size` results of `load`, each computed once even when threads ask together.

    The fetch threads reach a new shard at about the same time; with functools.lru_cache both
    missed and both fetched its `.idx` (6-8 index GETs for 5 shards per DataLoader worker from S3).
    Here the first asker claims the key and loads it, later askers wait for the same result, and a
    failed load is forgotten so the next asker tries again.
    """

    def __init__(self, load: Callable[..., Any], size: int):
        self.load, self.size = load, size
        self.lock = threading.Lock()
        self.entries: OrderedDict[Hashable, Future] = OrderedDict()

    def claim(self, key: Hashable) -> tuple[Future, bool]:
        """(the key's future, whether this caller must fill it)."""
        with self.lock:
            future = self.entries.get(key)
            if future is not None:
                self.entries.move_to_end(key)
                return future, False
            future = self.entries[key] = Future()
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
            return future, True

    def _fail(self, key: Hashable, future: Future, exc: BaseException) -> None:
        with self.lock:
            if self.entries.get(key) is future:
                del self.entries[key]
        future.set_exception(exc)

    def __call__(self, *key: Any) -> Any:
        future, mine = self.claim(key)
        if mine:
            try:
                future.set_result(self.load(*key))
            except BaseException as exc:
                self._fail(key, future, exc)
        return future.result()

    def load_together(self, keys: list[Hashable], load_many: Callable[[list], list]) -> None:
        """Load the keys that nobody holds or is loading with one call of `load_many(keys) -> values`
        (a first batch touches several shards at once: their indexes are fetched together, not one
        GET after another). A failure is forgotten, as in a single load, and raised."""
        claimed = [(key, future) for key in keys for future, mine in [self.claim(key)] if mine]
        if not claimed:
            return
        try:
            values = load_many([key for key, _ in claimed])
        except BaseException as exc:
            for key, future in claimed:
                self._fail(key, future, exc)
            raise
        for (_, future), value in zip(claimed, values):
            future.set_result(value)


def uncached_remote(urls: list[str], caches: list[ShardCache | None]) -> bool:
    """Whether shards are read by ranges from an object store: some dataset is remote and no shard
    cache is in use (with one, every read is a pread of a verified local copy)."""
    return any(not is_local(url) for url in urls) and all(cache is None for cache in caches)


def distinct(rows: np.ndarray) -> np.ndarray:
    """The distinct rows of one shard's reads (int64 [n, 3]), sorted by sample.

    np.unique(rows, axis=0) without its return_index imports numpy.ma on its first call in a process
    (numpy 2.4: 6 ms, 14 ms profiled), which every new DataLoader worker then paid before its first
    sample, each epoch."""
    return rows[np.unique(rows[:, 2], return_index=True)[1]]


class SampleReader:
    """Reads planned samples of one or more datasets; use one per iterator, inside the worker.

    The whole read list is known up front. From an object store it is cut into pieces: the samples this
    reader wants among about PIECE_BYTES (in stored order STORED_PIECE_BYTES) of consecutive samples of
    one shard, fetched in one merged range read on a small thread pool ahead of first use, each sample's
    bytes freed after its use (the plan keeps a piece's samples within its shuffle window, so few pieces
    are held at once; with a shard cache, the fetch thread downloads a shard into the cache when a piece
    first needs it, a few pieces ahead of use); the first batch is one job fetched alone, before any
    look-ahead (its own samples in a few spans, head_spans). Local shards are read by the iterating
    thread itself (_read_here).
    """

    PIECE_BYTES = 8 << 20
    """Bytes of consecutive samples per piece (one range GET). Fewer, larger GETs cost both ends less
    per byte, and the local SeaweedFS server reads every chunk of its own a GET touches whole, so a
    piece that starts between two samples pays for one chunk more (`python -m benchmarks.range_cost`,
    store CPU against whole-object GETs: 4 MiB ranges 1.20x at chunk boundaries and 1.70x off them,
    8 MiB 1.07x / 1.39x, 16 MiB 1.00x, 1 MiB 4.6x; reader CPU per MB 0.44 -> 0.32 ms from 4 to 8 MiB
    off the boundaries). A sample's bytes get a buffer of their own (DatasetFiles.read_ranges), so a
    piece is freed sample by sample and 8 MiB pieces hold what 4 MiB ones did; 16 MiB ones raised the
    shuffled reader's peak RSS past webdataset's (1p from S3: 530 against 429 MB). In a stream of
    consecutive pieces the chunk boundaries did not matter: GETs ending on them, the straddling
    sample's head carried over to the next GET, left the server's CPU per sample where it was
    (0.34-0.37 against 0.31-0.41 ms, 5 runs each); fewer GETs lower it (STORED_PIECE_BYTES)."""
    LOCAL_JOB_BYTES = 8 << 20
    LOCAL_JOB_SAMPLES = 32
    """Local reads are laid out (offsets looked up in the index arrays) a job at a time, and the next
    job is announced to the kernel when one starts: up to this many samples and bytes."""
    REMOTE_AHEAD = 3
    """Pieces fetched ahead of first use from an object store (24 MiB). With 4 MiB pieces, 3 ahead
    had left the CPU idle between GETs and 8 did not; with 8 MiB pieces 3 and 4 ahead measured alike
    (1,000 samples from the local S3 server, 2-3 runs of 3 each: 1p 2,079-2,120 / 1,941-2,241
    samples/s in order, 1,975-2,106 / 1,825-1,972 shuffled)."""
    STORED_PIECE_BYTES, STORED_AHEAD = 32 << 20, 2
    """Pieces of a reader in stored order (`sequential`), and how many are fetched ahead. Its reads
    are one run of consecutive samples per dataset, so it holds the piece in use and those ahead,
    where a shuffled reader holds a piece per bucket. Larger GETs cost the store less per sample:
    1,000 samples of 266 KB from the local S3 server in one process, 3 interleaved rounds of 3
    fresh-process runs each, medians (ranges):

    | pieces, ahead | samples/s | server CPU ms/sample | peak RSS MB |
    |---|---|---|---|
    | 8 MiB, 3 | 2,758 (2,378-2,985) | 0.34 | 302 |
    | 16 MiB, 2 | 2,674 (2,503-3,092) | 0.33 | 324 |
    | 32 MiB, 1 | 2,727 (2,548-3,154) | 0.28 | 349 |
    | 32 MiB, 2 | 2,923 (2,506-3,134) | 0.27 | 385 |
    """
    MAX_INDEXES = 64

    def __init__(
        self,
        datasets: list[DatasetInfo],
        storage_options: list[dict[str, Any] | None],
        modalities: list[tuple[str, ...] | None],
        retry: RetryPolicy,
        caches: list[ShardCache | None],
        first_chunk: int = 1,
        sequential: bool = False,
    ):
        self.datasets = datasets
        self.first_chunk = max(1, first_chunk)
        self.piece_bytes, self.ahead = (self.STORED_PIECE_BYTES, self.STORED_AHEAD) if sequential else (self.PIECE_BYTES, self.REMOTE_AHEAD)
        self.files = [DatasetFiles(d.url, o, retry, c) for d, o, c in zip(datasets, storage_options, caches)]
        self.wanted = [wanted_members(m) for m in modalities]
        self._columns: dict[tuple[int, tuple[str, ...]], np.ndarray] = {}
        self.remote = any(not f.local for f in self.files)
        self.ranged = uncached_remote([d.url for d in datasets], caches)
        # two range reads in flight from an object store; one thread for a shard cache (its downloads
        # and the preads of its verified copies)
        self.threads = 2 if self.ranged else 1
        self.index = SharedCache(self._load_index, self.MAX_INDEXES)

    def _load_index(self, d: int, shard: int) -> ShardIndex:
        """The parsed .idx of one shard (through `self.index`, shared by the fetch threads)."""
        return self._load_indexes([(d, shard)])[0]

    def _load_indexes(self, keys: list[tuple[int, int]]) -> list[ShardIndex]:
        """The parsed .idx of each (dataset, shard); each dataset's files are read together."""
        raws: dict[tuple[int, int], bytes] = {}
        for d in sorted({d for d, _ in keys}):
            mine = [key for key in keys if key[0] == d]
            raws.update(zip(mine, self.files[d].read_files([self.datasets[d].shards[s]["index"] for _, s in mine])))
        return [parse_index(raws[d, s], self.datasets[d].shards[s]) for d, s in keys]

    def _sizes(self, reads: np.ndarray) -> np.ndarray:
        """Mean bytes of a sample of each read's shard, from the manifest: float [n]."""
        mean = np.concatenate([[s["bytes"] / max(1, s["num_samples"]) for s in d.shards] for d in self.datasets] + [[]])
        return mean[np.cumsum([0, *[len(d.shards) for d in self.datasets]])[reads[:, 0]] + reads[:, 1]]

    def piece_keys(self, reads: np.ndarray) -> np.ndarray:
        """int64 [n, 3]: the (dataset, shard, piece) each remote read is fetched in, or -1 for reads
        inside the first chunk's spans (head_spans), which are fetched together first."""
        piece = reads[:, 2] // np.maximum(1, self.piece_bytes // np.maximum(self._sizes(reads), 1)).astype(np.int64)
        key = np.stack([reads[:, 0], reads[:, 1], piece], axis=1)
        key[self.in_first_spans(reads)] = -1
        return key

    def jobs(self, reads: np.ndarray) -> list[np.ndarray]:
        """The read numbers of each fetch job, jobs in order of first use (class docstring)."""
        if self.remote:
            _, first, job_of = np.unique(self.piece_keys(reads), axis=0, return_index=True, return_inverse=True)
            job_of = np.argsort(np.argsort(first))[job_of.ravel()]  # renumbered by first use
        else:
            # both keys only grow along the reads, so each distinct pair is a run of consecutive reads
            cut = np.stack([np.cumsum(self._sizes(reads)).astype(np.int64) // self.LOCAL_JOB_BYTES,
                            np.arange(len(reads)) // self.LOCAL_JOB_SAMPLES], axis=1)
            job_of = np.unique(cut, axis=0, return_inverse=True)[1].ravel()
        order = np.argsort(job_of, kind="stable")
        return np.split(order, np.cumsum(np.bincount(job_of))[:-1]) if len(reads) else []

    def shared_pieces(self, peers: list[np.ndarray], keys: list[np.ndarray], me: int) -> dict[tuple[int, int, int], tuple[tuple[int, ...], np.ndarray, np.ndarray]]:
        """The pieces worker `me` reads that other workers of its rank read too, where sharing saves
        (_worth_sharing). Where each user's samples of a piece lie apart from the others' and fill a
        GET of their own (stored order: a worker's batches are runs of consecutive samples), each
        fetches its own: no byte crosses the network twice, and the piece is not written to shared
        memory and read back (2 workers from the local S3 server, 4 epochs: stored order 1,544-1,656
        samples/s shared, 1,737-1,988 each on its own; shuffled 1,344-1,489 shared, 1,175-1,254 each
        on its own).

        Args:
            peers: the reads of every worker of the rank (plan.partition of each), `me`'s among them.
            keys: piece_keys of each worker's reads.

        Returns:
            (dataset, shard, piece) -> (the workers that read it, sorted; the distinct reads of all
            of them in it, sorted: what one fetch of the piece must hold; those of the others than
            `me`: what its fetcher must publish) (pieces.py).
        """
        rows = np.concatenate(peers)
        keys = np.concatenate(keys)
        who = np.concatenate([np.full(len(p), w, dtype=np.int64) for w, p in enumerate(peers)])
        ok = keys[:, 0] >= 0
        rows, keys, who = rows[ok], keys[ok], who[ok]
        if not len(keys):
            return {}
        uniq, group = np.unique(keys, axis=0, return_inverse=True)
        group = group.ravel()
        order = np.argsort(group, kind="stable")
        out = {}
        for key, members in zip(map(tuple, uniq.tolist()), np.split(order, np.cumsum(np.bincount(group))[:-1])):
            users = tuple(sorted(set(who[members].tolist())))
            if me in users and len(users) > 1 and self._worth_sharing(key, rows[members, 2], who[members]):
                out[key] = (users, distinct(rows[members]), distinct(rows[members][who[members] != me]))
        return out

    SHARE_RUN_BYTES = 2 << 20
    """Workers share a piece when their own runs of consecutive samples in it average less than
    this: each would fetch its runs in GETs of that size, which cost the store more per byte than
    the piece's one GET plus the copy through /dev/shm (`python -m benchmarks.range_cost`: 1 MiB
    ranges 4.6x a whole-object GET's CPU, 4 MiB 1.2-1.7x)."""

    def _worth_sharing(self, key: tuple[int, int, int], samples: np.ndarray, who: np.ndarray) -> bool:
        """Whether the users of one piece save by sharing it: their samples are finely interleaved
        (runs that average under SHARE_RUN_BYTES: shuffled reads, small batches), or one user's part
        is under a merge gap (a GET of its own would cost about as much as the whole piece's). In
        stored order each worker's batches are runs of their own, fetched by each worker alone."""
        info = self.datasets[key[0]].shards[key[1]]
        mean = info["bytes"] / max(1, info["num_samples"])
        runs = 0
        for user in set(who.tolist()):
            mine = np.sort(samples[who == user])
            if len(mine) * mean < DatasetFiles.MERGE_GAP:
                return True
            runs += 1 + int(np.count_nonzero(np.diff(mine) > 1))
        return len(samples) * mean / runs < self.SHARE_RUN_BYTES

    def head_spans(self, reads: np.ndarray) -> dict[tuple[int, int], list[list[int]]]:
        """(dataset, shard) -> the sorted [first, last] sample spans the first chunk is fetched in.

        The first batch waits for all of its samples, so they are one job whose GETs go out together.
        Its samples of one shard less than a merge gap apart share a span: one GET (each GET costs
        ~3 ms of client CPU; 32 scattered samples fetched one by one took 5x as long as one 8.6 MB
        range). A span holds whatever this reader reads inside it, and no other job's GET reaches
        across one (`_fetch` groups), so no byte is fetched twice.
        """
        spans: dict[tuple[int, int], list[list[int]]] = {}
        for d, shard, sample in sorted(reads[: self.first_chunk].tolist()):
            info = self.datasets[d].shards[shard]
            gap = max(1, DatasetFiles.MERGE_GAP * info["num_samples"] // max(1, info["bytes"]))
            runs = spans.setdefault((d, shard), [])
            if runs and sample - runs[-1][1] <= gap:
                runs[-1][1] = sample
            else:
                runs.append([sample, sample])
        return spans

    def in_first_spans(self, reads: np.ndarray) -> np.ndarray:
        """bool [n]: which reads fall inside a span of the first chunk (head_spans)."""
        inside = np.zeros(len(reads), dtype=bool)
        for (d, shard), runs in self.head_spans(reads).items():
            mine = np.flatnonzero((reads[:, 0] == d) & (reads[:, 1] == shard))
            lo, hi = np.asarray(runs).T
            at = np.searchsorted(lo, reads[mine, 2], side="right") - 1
            inside[mine] = (at >= 0) & (reads[mine, 2] <= hi[np.maximum(at, 0)])
        return inside

    def _layout(self, rows: np.ndarray, starts: dict[tuple[int, int], list[int]]) -> tuple[list, dict, dict]:
        """The range requests for `rows` (int64 [m, 3]), per dataset, and where each sample's
        members sit in them: (plans, requests, groups), plans[i] = (key, dataset, [(member,
        request number, start, end inside that request)]). `starts` splits a shard into merge
        groups (see _fetch).

        A sample whose every member is wanted is one request for its whole span, else one request
        per wanted member. Offsets come from the index arrays a run of rows of one shard at a time,
        so the Python left per sample is building its plan (locally the thread that decodes runs
        this for every sample).
        """
        plans: list[tuple[str, int, list[tuple[str, int, int, int]]]] = []
        requests: dict[int, list[tuple[str, str, int, int]]] = {}
        groups: dict[int, list[int]] = {}
        self.index.load_together(sorted({(d, shard) for d, shard in rows[:, :2].tolist()}), self._load_indexes)
        for run in np.split(rows, np.flatnonzero((np.diff(rows[:, :2], axis=0) != 0).any(axis=1)) + 1):
            d, shard = run[0, :2].tolist()
            info, index = self.datasets[d].shards[shard], self.index(d, shard)
            file = (info["path"], info["sha256"])
            samples = run[:, 2]
            spans, cells = index.spans[samples], index.members[samples]
            take = (cells[:, :, 0] >= 0) & self._wanted_columns(d, index.names)
            whole = (take == (cells[:, :, 0] >= 0)).all(axis=1)
            reqs, cuts = requests.setdefault(d, []), groups.setdefault(d, [])
            split = starts.get((d, shard), ())
            rows_of = zip(samples.tolist(), spans.tolist(), take.tolist(), (cells[:, :, 0] - spans[:, :1]).tolist(),
                          cells[:, :, 1].tolist(), whole.tolist())
            for sample, (base, size), wanted, offsets, sizes, one in rows_of:
                picked = [(m, at, n) for m, w, at, n in zip(index.names, wanted, offsets, sizes) if w]
                if one:
                    slices = [(m, len(reqs), at, at + n) for m, at, n in picked]
                    reqs.append((*file, base, base + size))
                else:
                    slices = [(m, len(reqs) + j, 0, n) for j, (m, _, n) in enumerate(picked)]
                    reqs.extend((*file, base + at, base + at + n) for _, at, n in picked)
                cuts.extend([bisect.bisect_right(split, sample) if split else 0] * (1 if one else len(picked)))
                plans.append((index.keys[sample], d, slices))
        return plans, requests, groups

    def _wanted_columns(self, d: int, names: tuple[str, ...]) -> np.ndarray:
        """bool [len(names)]: which of a shard's member names dataset `d`'s reader wants."""
        key = (d, names)
        if key not in self._columns:
            self._columns[key] = np.array([self.wanted[d](name) for name in names], dtype=bool)
        return self._columns[key]

    @staticmethod
    def _item(plan: tuple[str, int, list[tuple[str, int, int, int]]], got: list[Any] | BaseException) -> Any:
        key, _, slices = plan
        if isinstance(got, BaseException):
            return got
        return key, {m: memoryview(got[r])[s:e] for m, r, s, e in slices}

    def _fetch(self, reads: np.ndarray, which: np.ndarray, starts: dict[tuple[int, int], list[int]]) -> list[Any]:
        """Fetch the reads numbered `which` in one batch of range reads (an unreadable index raises).

        `starts` holds the first sample of each span of the first chunk per (dataset, shard)
        (head_spans): they split a shard into merge groups, and no GET crosses a split.

        Returns:
            items[i] is (key, {member: bytes-like}) for reads[which[i]], or the exception that made
            it unreadable.
        """
        plans, requests, groups = self._layout(reads[which], starts)
        buffers: dict[int, list[Any] | BaseException] = {}
        for d, reqs in requests.items():
            try:
                buffers[d] = self.files[d].read_ranges(reqs, groups[d])
            except Exception as exc:  # noqa: BLE001 - handed to the caller's on_error policy
                buffers[d] = exc
        return [self._item(plan, buffers[plan[1]]) for plan in plans]

    def _read_here(self, reads: np.ndarray) -> Iterator[Any]:
        """Local shards, read by the thread that decodes them, one sample at a time as it is reached;
        each job's ranges are announced to the kernel (DatasetFiles.advise) when the job before it
        starts, so a cold disk reads them while earlier samples decode.

        Reading page-cached bytes here costs less than handing them over from a fetch thread, which
        holds the interpreter lock between its reads while the decoding thread waits for it at every
        release (numpy and inflate release it many times a sample). 1,000 local 266 KB samples, 4
        interleaved fresh-process runs each, medians: one process 2,787 -> 3,840 samples/s in stored
        order and 2,885 -> 3,922 shuffled, peak RSS 242.3 -> 240.1 MB; 2 DataLoader workers 2,415 ->
        2,811 and 2,533 -> 3,116. A worker's peak RSS rose 217 -> 224-233 MB: the batch's sample
        buffers are now freed into the main thread's heap, which glibc does not trim (a fixed mmap
        threshold, MALLOC_MMAP_THRESHOLD_, gave the memory back and cost ~30% of the speed).
        """
        jobs = self.jobs(reads)
        laid: deque[Any] = deque()
        try:
            for k in range(len(jobs)):
                while len(laid) < 2 and k + len(laid) < len(jobs):
                    try:
                        layout = self._layout(reads[jobs[k + len(laid)]], {})
                        if laid:
                            for d, reqs in layout[1].items():
                                self.files[d].advise(reqs)
                    except Exception as exc:  # noqa: BLE001 - raised when its job is reached, as a fetch's would be
                        layout = exc
                    laid.append(layout)
                layout = laid.popleft()
                if isinstance(layout, BaseException):
                    raise layout
                plans, requests, _ = layout
                for plan in plans:
                    yield self._read_one(plan, requests[plan[1]])
        finally:
            for f in self.files:
                f.close()

    def _read_one(self, plan: tuple[str, int, list[tuple[str, int, int, int]]], requests: list) -> Any:
        """One laid-out sample read now: (key, members), or the exception that stopped it."""
        numbers = sorted({r for _, r, _, _ in plan[2]})
        try:
            got = dict(zip(numbers, self.files[plan[1]].read_ranges([requests[r] for r in numbers])))
        except Exception as exc:  # noqa: BLE001 - handed to the caller's on_error policy
            return exc
        return self._item(plan, got)

    def _fetch_shared(self, reads: np.ndarray, which: np.ndarray, starts: dict[tuple[int, int], list[int]],
                      share: PieceShare, key: tuple[int, int, int], users: tuple[int, ...], union: np.ndarray,
                      others: np.ndarray) -> list[Any]:
        """Like _fetch, for a piece other workers of the rank read too: its requests for all of them
        are fetched once, by whichever worker gets there first, and shared (pieces.py); if sharing
        fails, this worker fetches its own reads."""
        plans, requests, groups = self._layout(union, {})
        ((d, reqs),) = requests.items()
        offsets = list(itertools.accumulate((end - start for _, _, start, end in reqs), initial=0))
        at = {row: i for i, row in enumerate(map(tuple, union.tolist()))}

        def numbers_of(rows: np.ndarray) -> set[int]:
            return {r for row in map(tuple, rows.tolist()) for _, r, _, _ in plans[at[row]][2]}

        mine = [plans[at[row]] for row in map(tuple, reads[which].tolist())]
        numbers = sorted(numbers_of(reads[which]))
        private = frozenset(offsets[r] for r in set(numbers) - numbers_of(others))
        try:
            parts = share.get("-".join(map(str, key)), users, lambda: self.files[d].read_ranges(reqs, groups[d]),
                              [(offsets[r], offsets[r + 1] - offsets[r]) for r in numbers], private)
        except Exception as exc:  # noqa: BLE001 - handed to the caller's on_error policy
            return [exc] * len(which)
        if parts is None:
            return self._fetch(reads, which, starts)
        got = dict(zip(numbers, parts))
        return [self._item(plan, got) for plan in mine]

    def samples(self, reads: np.ndarray, share: PieceShare | None = None, peers: list[np.ndarray] | None = None,
                me: int = 0) -> Iterator[Any]:
        """Yield (key, members) or an exception for each read of int64 [n, 3] (dataset, shard, sample).

        With `share` and `peers` (the reads of every DataLoader worker of the rank; this one is
        `me`), pieces of an object store that other workers read too are fetched once per rank
        (pieces.py). Never with a shard cache, which already shares whole shards.
        """
        if not self.remote:
            yield from self._read_here(reads)
            return
        jobs = self.jobs(reads)
        shared, keys = {}, None
        if share is not None and peers and self.ranged:
            peer_keys = [self.piece_keys(p) for p in peers]
            shared, keys = self.shared_pieces(peers, peer_keys, me), peer_keys[me]
        first = [int(j.min()) for j in jobs]  # increasing: jobs are numbered by first use
        last = [int(j.max()) for j in jobs]
        job_of = np.zeros(len(reads), dtype=np.int64)
        slot = np.zeros(len(reads), dtype=np.int64)
        for k, j in enumerate(jobs):
            job_of[j], slot[j] = k, np.arange(len(j))
        starts = {key: [lo for lo, _ in runs] for key, runs in self.head_spans(reads).items()} if self.remote else {}
        fetcher = ThreadPoolExecutor(self.threads, thread_name_prefix="climb-fetch")
        held: dict[int, Future] = {}
        submitted = due = 0
        try:
            for i in range(len(reads)):
                while due < len(first) and first[due] <= i:
                    due += 1
                # every job in use by now (`due`), plus `ahead` jobs whose first use is still to come;
                # job 0 (the first chunk) alone until it is handed over: look-ahead fetches on the
                # same cores would slow the reads and decodes the first batch waits for
                while submitted < len(jobs) and submitted < (due + self.ahead if i >= self.first_chunk else 1):
                    job = jobs[submitted]
                    piece = tuple(keys[job[0]].tolist()) if keys is not None else None
                    if piece in shared:
                        held[submitted] = fetcher.submit(self._fetch_shared, reads, job, starts, share, piece, *shared[piece])
                    else:
                        held[submitted] = fetcher.submit(self._fetch, reads, job, starts)
                    submitted += 1
                k, j = int(job_of[i]), int(slot[i])
                items = held[k].result()
                # handed over once: a sample's bytes are freed with the sample, not with its job
                item, items[j] = items[j], None
                if last[k] == i:
                    del held[k]
                yield item
        finally:
            fetcher.shutdown(wait=True, cancel_futures=True)
            for f in self.files:
                f.close()
