"""From planned (dataset, shard, sample) reads to each sample's member bytes, in plan order.

The manifest says where shards are and how many samples each holds; each shard's `.idx` says where
every member's bytes sit. A reader walks its plan in chunks, fetches each chunk's byte ranges in one
batch (all of a sample when every member is wanted, else only the wanted members), and fetches the
next chunk on a background thread while the current one is decoded. Chunks start at one sample and
double up to their cap, so the first sample arrives after one small read (a DataLoader's first
batch after one read of a batch's samples, not after a ramp of small ones); the cap is 512 KiB for
local files (one pread per sample: a bigger chunk would only hold memory) and 16 MiB for object
stores, whose per-request cost wants big reads (io.DatasetFiles merges neighbouring ranges).
With a shard cache it also downloads the next shards of the plan ahead of time.
Only the indexes of recently used shards stay in memory; the shuffle window keeps that set small.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from climb.loaders.io import DatasetFiles, RetryPolicy, ShardCache
from climb.schemas.manifest import validate_manifest

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


def parse_index(raw: bytes, shard: dict[str, Any]) -> list[dict[str, Any]]:
    """A shard's .idx entries, refused (ValueError) unless its bytes are the ones the manifest pins
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
    for i, e in enumerate(entries):
        members = e.get("members") if isinstance(e, dict) else None
        if not isinstance(members, dict) or not isinstance(e.get("key"), str):
            raise ValueError(f"{name}: sample {i} has no key or no members")
        spans = [(e.get("offset"), e.get("size"))] + [tuple(v) if isinstance(v, list) and len(v) == 2 else (None, None) for v in members.values()]
        for start, size in spans:
            if not (type(start) is int and type(size) is int and 0 <= start and 0 <= size and start + size <= limit):
                raise ValueError(f"{name}: sample {i} names bytes [{start}, {start}+{size}) outside the {limit}-byte shard {shard['path']}")
    return entries


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
    start, size = parse_index(files.read_file(shard["index"]), shard)[0]["members"][METADATA]
    (meta,) = files.read_ranges([(shard["path"], shard["sha256"], start, start + size)])
    return tuple(json.loads(bytes(meta))["modalities"])


def wanted_members(modalities: tuple[str, ...] | None):
    """Predicate on member names (``image.png`` -> field ``image``); metadata is always read."""
    if modalities is None:
        return lambda member: True
    chosen = set(modalities)
    return lambda member: member == METADATA or member.split(".", 1)[0] in chosen


class SampleReader:
    """Reads planned samples of one or more datasets; use one per iterator, inside the worker."""

    CHUNK_SAMPLES = 64
    LOCAL_CHUNK_BYTES = 512 << 10
    REMOTE_CHUNK_BYTES = 16 << 20
    MAX_INDEXES = 64
    LOOKAHEAD_SHARDS = 2

    def __init__(
        self,
        datasets: list[DatasetInfo],
        storage_options: list[dict[str, Any] | None],
        modalities: list[tuple[str, ...] | None],
        retry: RetryPolicy,
        caches: list[ShardCache | None],
        first_chunk: int = 1,
    ):
        self.datasets = datasets
        self.first_chunk = max(1, first_chunk)
        self.files = [DatasetFiles(d.url, o, retry, c) for d, o, c in zip(datasets, storage_options, caches)]
        self.wanted = [wanted_members(m) for m in modalities]
        self.cached = any(c is not None for c in caches)
        remote = any(not f.local and f.cache is None for f in self.files)
        self.chunk_bytes = self.REMOTE_CHUNK_BYTES if remote else self.LOCAL_CHUNK_BYTES
        self._indexes: OrderedDict[tuple[int, int], list[dict[str, Any]]] = OrderedDict()

    def index(self, d: int, shard: int) -> list[dict[str, Any]]:
        """The parsed .idx of one shard (LRU-cached)."""
        key = (d, shard)
        entries = self._indexes.pop(key, None)
        if entries is None:
            info = self.datasets[d].shards[shard]
            entries = parse_index(self.files[d].read_file(info["index"]), info)
            while len(self._indexes) >= self.MAX_INDEXES:
                self._indexes.popitem(last=False)
        self._indexes[key] = entries
        return entries

    def _fetch(self, reads: np.ndarray, start: int, max_samples: int) -> tuple[int, list[Any]]:
        """Fetch the chunk of at most `max_samples` reads (and about chunk_bytes) beginning at `start`.

        Returns:
            (end, items): items[i] is (key, {member: bytes-like}) for reads[start + i], or the
            exception that made it unreadable.
        """
        end, size = start, 0
        while end < len(reads) and end - start < max_samples and size < self.chunk_bytes:
            d, shard, sample = (int(v) for v in reads[end])
            size += self.index(d, shard)[sample]["size"]
            end += 1
        # per sample: (key, dataset, [(member, request number, start, end inside that request)])
        plans: list[tuple[str, int, list[tuple[str, int, int, int]]]] = []
        requests: dict[int, list[tuple[str, str, int, int]]] = {}
        for d, shard, sample in reads[start:end].tolist():
            info = self.datasets[d].shards[shard]
            entry = self.index(d, shard)[sample]
            members = {m: v for m, v in entry["members"].items() if self.wanted[d](m)}
            reqs = requests.setdefault(d, [])
            if len(members) == len(entry["members"]):
                base = entry["offset"]
                slices = [(m, len(reqs), off - base, off - base + n) for m, (off, n) in members.items()]
                reqs.append((info["path"], info["sha256"], base, base + entry["size"]))
            else:
                slices = [(m, len(reqs) + j, 0, n) for j, (m, (_, n)) in enumerate(members.items())]
                reqs.extend((info["path"], info["sha256"], off, off + n) for off, n in members.values())
            plans.append((entry["key"], d, slices))
        buffers: dict[int, list[Any] | BaseException] = {}
        for d, reqs in requests.items():
            try:
                buffers[d] = self.files[d].read_ranges(reqs)
            except Exception as exc:  # noqa: BLE001 - handed to the caller's on_error policy
                buffers[d] = exc
        items: list[Any] = []
        for key, d, slices in plans:
            got = buffers[d]
            if isinstance(got, BaseException):
                items.append(got)
            else:
                items.append((key, {m: memoryview(got[r])[s:e] for m, r, s, e in slices}))
        return end, items

    def _shard_order(self, reads: np.ndarray) -> dict[tuple[int, int], int]:
        """Each shard's rank in the order the plan first touches it."""
        pairs = reads[:, :2]
        _, first = np.unique(pairs, axis=0, return_index=True)
        return {(int(pairs[i][0]), int(pairs[i][1])): n for n, i in enumerate(sorted(first))}

    def samples(self, reads: np.ndarray) -> Iterator[Any]:
        """Yield (key, members) or an exception for each read of int64 [n, 3] (dataset, shard, sample)."""
        fetcher = ThreadPoolExecutor(1, thread_name_prefix="climb-fetch")
        downloader = ThreadPoolExecutor(1, thread_name_prefix="climb-download") if self.cached else None
        downloads: dict[tuple[int, int], Future] = {}
        order = self._shard_order(reads) if downloader is not None and len(reads) else {}
        upcoming = list(order)
        try:
            chunk = self.first_chunk
            pending = fetcher.submit(self._fetch, reads, 0, chunk) if len(reads) else None
            while pending is not None:
                end, items = pending.result()
                chunk = min(2 * chunk, self.CHUNK_SAMPLES)
                pending = fetcher.submit(self._fetch, reads, end, chunk) if end < len(reads) else None
                if downloader is not None:
                    self._download_ahead(reads[end - 1], order, upcoming, downloads, downloader)
                yield from items
        finally:
            fetcher.shutdown(wait=True, cancel_futures=True)
            if downloader is not None:
                downloader.shutdown(wait=True, cancel_futures=True)
            for f in self.files:
                f.close()

    def _download_ahead(self, last_read: np.ndarray, order: dict, upcoming: list, downloads: dict, pool: ThreadPoolExecutor) -> None:
        """Start downloading the next shards the plan will touch after the chunk just fetched."""
        current = order[(int(last_read[0]), int(last_read[1]))]
        for d, shard in upcoming[current + 1: current + 1 + self.LOOKAHEAD_SHARDS]:
            if (d, shard) not in downloads:
                info = self.datasets[d].shards[shard]
                downloads[(d, shard)] = pool.submit(self.files[d].prepare, info["path"], info["sha256"])
