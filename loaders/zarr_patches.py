"""Random 3D patches from the Zarr volumes beside the shards, reading only the chunks they touch.

A CT volume is tens to hundreds of MiB; training on 3D crops needs a few patches per volume per
step, not the volume. Zarr slicing fetches exactly the chunks a slice intersects (the writer
chunks volumes in ~2 MiB cubes), so a 64^3 patch costs a handful of chunk reads locally or on S3.

    ds = ClimbDataset(url, modalities=("preview",), transform=VolumePatches((64, 64, 64), count=4))

Patch origins are drawn from the per-sample generator the dataset hands the transform
(plan.sample_rng), so they depend on (seed, epoch, position) only. A volume smaller than the patch
on some axis is zero-padded on that axis.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np
import torch

from climb.loaders.io import RetryPolicy, default_storage_options
from climb.storage import is_local, join, local_path


def patch_origins(shape: Sequence[int], patch: Sequence[int], count: int, rng: np.random.Generator) -> np.ndarray:
    """int64 [count, 3] uniform patch corners, each patch inside the volume where it fits."""
    room = np.maximum(np.asarray(shape[:3], dtype=np.int64) - np.asarray(patch, dtype=np.int64), 0)
    return rng.integers(0, room + 1, size=(count, 3), dtype=np.int64)


def read_patches(array: Any, origins: np.ndarray, patch: Sequence[int]) -> np.ndarray:
    """[count, pz, py, px] patches of a 3D array-like (zarr.Array) at the given corners."""
    out = np.zeros((len(origins), *patch), dtype=array.dtype)
    blosc = _blosc_chunks(array)
    for i, (z, y, x) in enumerate(origins.tolist()):
        if blosc:
            _read_blosc(array, (z, y, x), patch, out[i])
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


def _read_blosc(array: Any, origin: Sequence[int], patch: Sequence[int], out: np.ndarray) -> None:
    """Fill out[:region] with array[origin:origin + patch] (clipped to the array) from its chunks.

    zarr's own read path hops between threads several times per chunk (about 2 ms for one 2 MiB
    chunk here, more than decompressing it); this fetches every chunk the patch touches through
    the array's store in one concurrent batch, decompresses them in this thread with Blosc and
    copies the overlap. Missing chunks are the fill value, as in zarr.
    """
    from numcodecs import Blosc
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    meta, shape = array.metadata, array.shape
    chunks = meta.chunk_grid.chunk_shape
    lo = [int(o) for o in origin]
    hi = [min(o + p, n) for o, p, n in zip(lo, patch, shape)]
    grid = list(itertools.product(*(range(a // c, (b - 1) // c + 1) for a, b, c in zip(lo, hi, chunks))))
    store, prefix = array.store_path.store, array.store_path.path
    keys = [f"{prefix}/{meta.encode_chunk_key(idx)}" if prefix else meta.encode_chunk_key(idx) for idx in grid]

    async def fetch_all():
        return await asyncio.gather(*(store.get(k, default_buffer_prototype()) for k in keys))

    codec = Blosc()
    for idx, buf in zip(grid, sync(fetch_all())):
        start = [i * c for i, c in zip(idx, chunks)]
        a = [max(x, s) for x, s in zip(lo, start)]
        b = [min(x, s + c) for x, s, c in zip(hi, start, chunks)]
        dst = tuple(slice(p - o, q - o) for p, q, o in zip(a, b, lo))
        if buf is None:
            out[dst] = meta.fill_value
            continue
        block = np.frombuffer(codec.decode(buf.as_numpy_array()), dtype=array.dtype).reshape(chunks)
        out[dst] = block[tuple(slice(p - s, q - s) for p, q, s in zip(a, b, start))]


def open_volume(dataset_url: str, zarr_path: str, storage_options: dict[str, Any] | None = None):
    """The read-only zarr.Array of one volume (zarr_path as in the sample's meta["volume"])."""
    import zarr

    url = join(dataset_url, zarr_path)
    if is_local(url):
        store = zarr.storage.LocalStore(local_path(url), read_only=True)
    else:
        store = zarr.storage.FsspecStore.from_url(url, storage_options=default_storage_options(url, storage_options), read_only=True)
    return zarr.open_array(store=store, mode="r", zarr_format=3)


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

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_open": OrderedDict()}

    def _array(self, dataset_url: str, zarr_path: str):
        key = f"{dataset_url}/{zarr_path}"
        arr = self._open.pop(key, None)
        if arr is None:
            arr = self.retry.call(lambda: open_volume(dataset_url, zarr_path, self.storage_options), f"open {key}")
            while len(self._open) >= self.MAX_OPEN:
                self._open.popitem(last=False)
        self._open[key] = arr
        return arr

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        volume = sample["meta"].get("volume") or {}
        if "zarr_path" not in volume:
            return sample
        arr = self._array(sample["__url__"], volume["zarr_path"])
        origins = patch_origins(arr.shape, self.patch, self.count, rng)
        patches = self.retry.call(lambda: read_patches(arr, origins, self.patch), f"read patches of {volume['zarr_path']}")
        sample["volume_patches"] = torch.from_numpy(patches)
        sample["volume_origins"] = torch.from_numpy(origins)
        return sample
