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
    for i, (z, y, x) in enumerate(origins.tolist()):
        block = array[z:z + patch[0], y:y + patch[1], x:x + patch[2]]
        out[i, : block.shape[0], : block.shape[1], : block.shape[2]] = block
    return out


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
