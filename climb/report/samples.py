"""The first samples of each split, read straight from the tar shards a manifest lists.

A preview must show the same samples every time, so it takes the first N of each split in shard
order (the manifest's shard list, then member order inside each tar), and it must work on any
fsspec URL, so it streams each shard with plain `tarfile` and stops as soon as it has enough.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from typing import Any

from climb.storage import filesystem, is_local, join, local_path

SPLIT_ORDER = ("train", "val", "test")


@dataclass(frozen=True)
class ShardSample:
    """One record of a shard: its key, its metadata (the `json` member) and its other members' bytes."""

    key: str
    meta: dict[str, Any]
    members: dict[str, bytes]


def ordered_splits(manifest: dict[str, Any]) -> list[str]:
    """train, val, test first, then any other split names alphabetically."""
    names = sorted(manifest["splits"])
    return [s for s in SPLIT_ORDER if s in names] + [s for s in names if s not in SPLIT_ORDER]


def _records(tar: tarfile.TarFile):
    """(key, {member: bytes}) per sample, for a tar whose members are grouped by key."""
    key, members = None, {}
    for info in tar:
        if not info.isfile():
            continue
        base = info.name.rsplit("/", 1)[-1]
        k, _, member = base.partition(".")
        if k != key and members:
            yield key, members
            members = {}
        key = k
        members[member] = tar.extractfile(info).read()
    if members:
        yield key, members


def first_samples(
    dataset_url: str, manifest: dict[str, Any], per_split: int, storage_options: dict[str, Any] | None = None
) -> dict[str, list[ShardSample]]:
    """The first `per_split` samples of every split, in shard order.

    Args:
        dataset_url: OUT_URL/SOURCE (local path or any fsspec URL).
        manifest: its manifest.json, already loaded.
        per_split: samples to take from each split.
        storage_options: fsspec options (e.g. an S3 endpoint).

    Returns:
        {split: [ShardSample, ...]} for every split of the manifest, in `ordered_splits` order.
    """
    fs, root = filesystem(dataset_url, storage_options)
    out: dict[str, list[ShardSample]] = {split: [] for split in ordered_splits(manifest)}
    for shard in manifest["shards"]:
        taken = out.setdefault(shard["split"], [])
        if len(taken) >= per_split:
            continue
        with fs.open(f"{root.rstrip('/')}/{shard['path']}", "rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for key, members in _records(tar):
                meta = json.loads(members.pop("json"))
                taken.append(ShardSample(key, meta, members))
                if len(taken) >= per_split:
                    break
    return out


def open_volume(dataset_url: str, zarr_path: str, storage_options: dict[str, Any] | None = None):
    """The Zarr array of a stored volume, opened read-only (reads fetch only the chunks they touch)."""
    import zarr

    url = join(dataset_url, zarr_path)
    if is_local(url):
        return zarr.open_array(local_path(url), mode="r", zarr_format=3)
    store = zarr.storage.FsspecStore.from_url(url, storage_options=storage_options or {}, read_only=True)
    return zarr.open_array(store=store, mode="r", zarr_format=3)
