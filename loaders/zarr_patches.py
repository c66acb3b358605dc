"""Random 3D patches from the Zarr volumes beside the shards, reading only the chunks they touch.

A CT volume is tens to hundreds of MiB; training on 3D crops needs a few patches per volume per
step, not the volume. Zarr slicing fetches exactly the chunks a slice intersects (the writer
chunks volumes in ~2 MiB cubes), so a 64^3 patch costs a handful of chunk reads locally or on S3.

    ds = ClimbDataset(url, modalities=("preview",), transform=VolumePatches((64, 64, 64), count=4))

Patch origins are drawn from the per-sample generator the dataset hands the transform
(plan.sample_rng), so they depend on (seed, epoch, position) only. A volume smaller than the patch
on some axis is zero-padded on that axis.

Volumes as climb writes them (regular chunks, Blosc) are read without zarr's chunk machinery: the
touched chunks come in one concurrent batch (from S3 as GETs on presigned URLs,
DatasetFiles.read_objects; elsewhere through the array's store) and are decompressed in the calling
thread; the first read of a volume also fetches its zarr.json in that same batch. Anything else (other codecs, sharding) is
read by zarr itself. From the local S3 server, whole 2.1 MB volumes in one process (the README's 3D
set alone, two interleaved A/B runs, medians of 3): 84-96 -> 104-105 samples/s; the full README
runs before and after, on a busier host, gave 86 and 82, within their +-10-15% noise, and 125 in a
later quieter run (which also had the shard indexes on presigned GETs).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from collections import OrderedDict
from typing import Any, Callable, Sequence

import numpy as np
import torch

from climb.loaders.io import DatasetFiles, RetryPolicy, default_storage_options
from climb.storage import is_local, join, local_path

Objects = Callable[[list[str]], list[Any]]
"""Whole stored objects of one volume by store key (None where absent), fetched together."""


def patch_origins(shape: Sequence[int], patch: Sequence[int], count: int, rng: np.random.Generator) -> np.ndarray:
    """int64 [count, 3] uniform patch corners, each patch inside the volume where it fits."""
    room = np.maximum(np.asarray(shape[:3], dtype=np.int64) - np.asarray(patch, dtype=np.int64), 0)
    return rng.integers(0, room + 1, size=(count, 3), dtype=np.int64)


def read_patches(array: Any, origins: np.ndarray, patch: Sequence[int], fetched: dict[str, Any] | None = None,
                 objects: Objects | None = None) -> np.ndarray:
    """[count, pz, py, px] patches of a 3D array-like (zarr.Array) at the given corners (`fetched`:
    chunk buffers already read, by store key; `objects`: fetches the others from S3, `_fetch`)."""
    out = np.zeros((len(origins), *patch), dtype=array.dtype)
    blosc = _blosc_chunks(array)
    for i, (z, y, x) in enumerate(origins.tolist()):
        if blosc:
            _read_blosc(array, (z, y, x), patch, out[i], fetched, objects)
            continue
        block = array[z:z + patch[0], y:y + patch[1], x:x + patch[2]]
        out[i, : block.shape[0], : block.shape[1], : block.shape[2]] = block
    return out


def _blosc_chunks(array: Any) -> bool:
    """True for a Zarr v3 array as climb writes it: regular chunks, little-endian bytes, then Blosc."""
    from zarr.codecs import BloscCodec, BytesCodec
    from zarr.core.chunk_grids import RegularChunkGrid

    meta = getattr(array, "metadata", None)
    codecs = getattr(meta, "codecs", ())
    return (len(codecs) == 2 and isinstance(codecs[0], BytesCodec) and isinstance(codecs[1], BloscCodec)
            and isinstance(meta.chunk_grid, RegularChunkGrid) and array.ndim == 3
            and (array.dtype.itemsize == 1 or (codecs[0].endian is not None and codecs[0].endian.value == sys.byteorder)))


def _chunks_of(origin: Sequence[int], patch: Sequence[int], shape: Sequence[int], chunks: Sequence[int]) -> list[tuple[int, ...]]:
    """Grid indices of the chunks array[origin:origin + patch] (clipped to the shape) touches."""
    lo = [int(o) for o in origin]
    hi = [min(o + p, n) for o, p, n in zip(lo, patch, shape)]
    return list(itertools.product(*(range(a // c, (b - 1) // c + 1) for a, b, c in zip(lo, hi, chunks))))


def _fetch(store: Any, keys: list[str], objects: Objects | None = None) -> list[Any]:
    """The stored buffers of these keys (None where absent), fetched concurrently in one round trip:
    by `objects` where given (a volume on S3), through the store otherwise."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    if objects is not None:
        wrap = default_buffer_prototype().buffer.from_bytes
        return [None if data is None else wrap(data) for data in objects(keys)]

    async def fetch_all():
        return await asyncio.gather(*(store.get(k, default_buffer_prototype()) for k in keys))

    return sync(fetch_all())


def _read_blosc(array: Any, origin: Sequence[int], patch: Sequence[int], out: np.ndarray, fetched: dict[str, Any] | None = None,
                objects: Objects | None = None) -> None:
    """Fill out[:region] with array[origin:origin + patch] (clipped to the array) from its chunks.

    zarr's own read path hops between threads several times per chunk (about 2 ms for one 2 MiB
    chunk here, more than decompressing it); this fetches every chunk the patch touches through
    the array's store in one concurrent batch (unless already `fetched`), decompresses them in this
    thread with Blosc and copies the overlap. Missing chunks are the fill value, as in zarr.
    """
    from numcodecs import Blosc

    meta, shape = array.metadata, array.shape
    chunks = meta.chunk_grid.chunk_shape
    lo = [int(o) for o in origin]
    hi = [min(o + p, n) for o, p, n in zip(lo, patch, shape)]
    grid = _chunks_of(origin, patch, shape, chunks)
    prefix = array.store_path.path
    keys = [f"{prefix}/{meta.encode_chunk_key(idx)}" if prefix else meta.encode_chunk_key(idx) for idx in grid]
    fetched = fetched or {}
    todo = [k for k in keys if k not in fetched]
    got = {**fetched, **dict(zip(todo, _fetch(array.store_path.store, todo, objects)))} if todo else fetched
    codec = Blosc()
    for idx, key in zip(grid, keys):
        start = [i * c for i, c in zip(idx, chunks)]
        a = [max(x, s) for x, s in zip(lo, start)]
        b = [min(x, s + c) for x, s, c in zip(hi, start, chunks)]
        dst = tuple(slice(p - o, q - o) for p, q, o in zip(a, b, lo))
        if got[key] is None:
            out[dst] = meta.fill_value
            continue
        block = np.frombuffer(codec.decode(got[key].as_numpy_array()), dtype=array.dtype).reshape(chunks)
        out[dst] = block[tuple(slice(p - s, q - s) for p, q, s in zip(a, b, start))]


def _store(dataset_url: str, zarr_path: str, storage_options: dict[str, Any] | None):
    import zarr

    url = join(dataset_url, zarr_path)
    if is_local(url):
        return zarr.storage.LocalStore(local_path(url), read_only=True)
    return zarr.storage.FsspecStore.from_url(url, storage_options=default_storage_options(url, storage_options), read_only=True)


def open_with_chunks(dataset_url: str, zarr_path: str, storage_options: dict[str, Any] | None, shape: Sequence[int],
                     chunks: Sequence[int], origins: np.ndarray, patch: Sequence[int],
                     objects: Objects | None = None) -> tuple[Any, dict[str, Any]]:
    """(array, {chunk key: buffer}): a volume opened together with the chunks its patches need.

    Opening reads zarr.json, then reading the chunks is a second round trip; here both go in one
    concurrent batch, the chunk keys worked out from the shape and chunks the sample's metadata
    carries with zarr's default key encoding. The prefetched chunks are only used if the parsed
    metadata agrees (Blosc layout, same shape, chunks and keys); otherwise the array reads its own.
    """
    import zarr
    from zarr.core.array import AsyncArray

    store = _store(dataset_url, zarr_path, storage_options)
    grid = sorted({idx for o in origins.tolist() for idx in _chunks_of(o, patch, shape, chunks)})
    keys = ["c/" + "/".join(str(i) for i in idx) for idx in grid]
    doc, *buffers = _fetch(store, ["zarr.json", *keys], objects)
    if doc is None:
        raise FileNotFoundError(f"no Zarr array at {join(dataset_url, zarr_path)}")
    array = zarr.Array(AsyncArray(metadata=json.loads(doc.to_bytes()), store_path=zarr.storage.StorePath(store)))
    meta = array.metadata
    agrees = (_blosc_chunks(array) and tuple(array.shape) == tuple(shape) and tuple(meta.chunk_grid.chunk_shape) == tuple(chunks)
              and all(meta.encode_chunk_key(idx) == key for idx, key in zip(grid, keys)))
    return array, dict(zip(keys, buffers)) if agrees else {}


def open_volume(dataset_url: str, zarr_path: str, storage_options: dict[str, Any] | None = None):
    """The read-only zarr.Array of one volume (zarr_path as in the sample's meta["volume"])."""
    import zarr

    return zarr.open_array(store=_store(dataset_url, zarr_path, storage_options), mode="r", zarr_format=3)


class VolumePatches:
    """ClimbDataset transform: adds "volume_patches" [count, pz, py, px] and "volume_origins" [count, 3].

    Samples without a volume pass through unchanged (their batch row is marked absent by collate).
    """

    MAX_OPEN = 16

    def __init__(self, patch: Sequence[int], count: int = 1, storage_options: dict[str, Any] | None = None,
                 retry: RetryPolicy = RetryPolicy()):
        if len(patch) != 3 or min(patch) < 1 or count < 1:
            raise ValueError(f"patch must be 3 positive sizes and count >= 1, got {patch} x {count}")
        self.patch, self.count = tuple(int(p) for p in patch), count
        self.storage_options, self.retry = storage_options, retry
        self._open: OrderedDict[str, Any] = OrderedDict()
        self._files: dict[str, DatasetFiles | None] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_open": OrderedDict(), "_files": {}}

    def _objects(self, url: str, zarr_path: str) -> Objects | None:
        """How the volume at `zarr_path` of the dataset at `url` reads whole chunk objects: by the
        dataset's remote files (made on first use in this process), or None to use zarr's store."""
        if url not in self._files:
            self._files[url] = None if is_local(url) else DatasetFiles(url, self.storage_options, self.retry, None)
        files = self._files[url]
        return None if files is None else lambda keys: files.read_objects([f"{zarr_path}/{key}" for key in keys])

    def _remember(self, key: str, arr: Any) -> None:
        while len(self._open) >= self.MAX_OPEN:
            self._open.popitem(last=False)
        self._open[key] = arr

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        volume = sample["meta"].get("volume") or {}
        if "zarr_path" not in volume:
            return sample
        url, path = sample["__url__"], volume["zarr_path"]
        key = f"{url}/{path}"
        objects = self._objects(url, path)
        arr = self._open.pop(key, None)
        if arr is None and volume.get("shape") and volume.get("chunks"):
            # a volume not open yet: open it and fetch its chunks in one round trip
            state = rng.bit_generator.state
            origins = patch_origins(volume["shape"], self.patch, self.count, rng)
            arr, fetched = self.retry.call(
                lambda: open_with_chunks(url, path, self.storage_options, volume["shape"], volume["chunks"], origins, self.patch, objects),
                f"open {key}")
            if tuple(arr.shape) != tuple(volume["shape"]):  # metadata disagrees: draw as if opened first
                rng.bit_generator.state = state
                origins = patch_origins(arr.shape, self.patch, self.count, rng)
            patches = self.retry.call(lambda: read_patches(arr, origins, self.patch, fetched, objects), f"read patches of {path}")
        else:
            if arr is None:
                arr = self.retry.call(lambda: open_volume(url, path, self.storage_options), f"open {key}")
            origins = patch_origins(arr.shape, self.patch, self.count, rng)
            patches = self.retry.call(lambda: read_patches(arr, origins, self.patch, objects=objects), f"read patches of {path}")
        self._remember(key, arr)
        sample["volume_patches"] = torch.from_numpy(patches)
        sample["volume_origins"] = torch.from_numpy(origins)
        return sample
