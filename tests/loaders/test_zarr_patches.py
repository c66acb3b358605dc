"""Random 3D patches from the converted Zarr volumes: right voxels, only touched chunks, deterministic."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from climb.loaders import ClimbDataset, collate
from climb.loaders.zarr_patches import VolumePatches, open_volume, patch_origins, read_patches


class CountingStore(zarr.storage.WrapperStore):
    """Records every chunk key read through it."""

    def __init__(self, store):
        super().__init__(store)
        self.chunks: list[str] = []

    async def get(self, key, prototype, byte_range=None):
        if "/c/" in f"/{key}":
            self.chunks.append(key)
        return await super().get(key, prototype, byte_range)


def first_volume(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    return manifest["volumes"][0]


def test_the_corpus_volumes_span_several_chunks(dataset):
    vol = first_volume(dataset)
    assert vol["shape"] == [96, 128, 128] and vol["chunks"] == [64, 64, 64]


@pytest.mark.parametrize("origin, chunks", [((0, 0, 0), 1), ((0, 64, 0), 1), ((56, 56, 56), 8), ((40, 50, 70), 2), ((60, 60, 5), 4)])
def test_a_patch_reads_only_the_chunks_it_touches(dataset, origin, chunks):
    path = dataset / first_volume(dataset)["path"]
    store = CountingStore(zarr.storage.LocalStore(str(path), read_only=True))
    arr = zarr.open_array(store=store, mode="r", zarr_format=3)
    patch = read_patches(arr, np.array([origin]), (16, 16, 16))
    assert len(set(store.chunks)) == chunks
    full = open_volume(str(dataset), first_volume(dataset)["path"])[...]
    z, y, x = origin
    assert np.array_equal(patch[0], full[z:z + 16, y:y + 16, x:x + 16])


def test_patches_larger_than_the_volume_are_zero_padded(dataset):
    arr = open_volume(str(dataset), first_volume(dataset)["path"])
    origins = patch_origins(arr.shape, (128, 8, 8), 3, np.random.default_rng(0))
    assert (origins[:, 0] == 0).all()
    patches = read_patches(arr, origins, (128, 8, 8))
    assert patches.shape == (3, 128, 8, 8)
    assert (patches[:, 96:] == 0).all() and (patches[:, :96] != 0).any()


def volume_batches(dataset, epoch):
    ds = ClimbDataset(str(dataset), split="train", modalities=("preview",), transform=VolumePatches((32, 32, 32), count=3))
    ds.set_epoch(epoch)
    return [s for s in ds if "volume_patches" in s]


def test_the_dataset_transform_adds_patches_of_every_volume_sample(dataset):
    samples = volume_batches(dataset, 0)
    assert len(samples) == 2
    for s in samples:
        full = open_volume(s["__url__"], s["meta"]["volume"]["zarr_path"])[...]
        assert s["volume_patches"].shape == (3, 32, 32, 32)
        for patch, (z, y, x) in zip(s["volume_patches"].numpy(), s["volume_origins"].tolist()):
            assert np.array_equal(patch, full[z:z + 32, y:y + 32, x:x + 32])
    batch = collate(samples)
    assert batch["volume_patches"].shape == (2, 3, 32, 32, 32) and batch["volume_patches_present"].all()


def test_patch_origins_depend_on_seed_epoch_and_position_only(dataset):
    a, b, c = volume_batches(dataset, 0), volume_batches(dataset, 0), volume_batches(dataset, 1)
    origins = lambda samples: {s["__key__"]: s["volume_origins"].tolist() for s in samples}  # noqa: E731
    assert origins(a) == origins(b) != origins(c)


@pytest.mark.parametrize("compressors", ["auto-blosc", None])
def test_patches_equal_zarr_slicing_with_missing_chunks_and_other_codecs(tmp_path, compressors):
    """Blosc arrays take the direct chunk path, others zarr's own; both give zarr's voxels, with the
    fill value where a chunk was never written."""
    from zarr.codecs import BloscCodec

    codecs = [BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle", typesize=2)] if compressors else None
    arr = zarr.create_array(store=zarr.storage.LocalStore(str(tmp_path / "v")), shape=(20, 30, 40), chunks=(8, 16, 16),
                            dtype="int16", compressors=codecs, fill_value=-7, zarr_format=3)
    arr[:12, 5:, :33] = np.arange(12 * 25 * 33, dtype=np.int16).reshape(12, 25, 33)
    origins = patch_origins(arr.shape, (9, 17, 21), 6, np.random.default_rng(1))
    patches = read_patches(arr, np.concatenate([origins, [[14, 20, 30]]]), (9, 17, 21))
    full = arr[...]
    for patch, (z, y, x) in zip(patches, [*origins.tolist(), [14, 20, 30]]):
        region = full[z:z + 9, y:y + 17, x:x + 21]
        assert np.array_equal(patch[: region.shape[0], : region.shape[1], : region.shape[2]], region)
    assert (full == -7).any()


@pytest.mark.parametrize("volume_meta", [{}, {"chunks": [8, 8, 8]}, {"shape": [96, 128, 128], "chunks": [7, 7, 7]}])
def test_a_volume_is_read_right_whatever_its_sample_metadata_claims(dataset, volume_meta):
    """Opening a volume also fetches the chunks the sample metadata's shape and chunks point to; where
    that metadata is missing or wrong, the array's own metadata decides and the voxels are zarr's."""
    vol = first_volume(dataset)
    truth = {"zarr_path": vol["path"], "shape": vol["shape"], "chunks": vol["chunks"]}
    rng = lambda: np.random.default_rng(3)  # noqa: E731
    full = open_volume(str(dataset), vol["path"])[...]
    expected = VolumePatches((40, 40, 40), count=2)({"meta": {"volume": truth}, "__url__": str(dataset)}, rng())
    got = VolumePatches((40, 40, 40), count=2)({"meta": {"volume": {"zarr_path": vol["path"], **volume_meta}}, "__url__": str(dataset)}, rng())
    assert got["volume_origins"].tolist() == expected["volume_origins"].tolist()
    for patch, (z, y, x) in zip(got["volume_patches"].numpy(), got["volume_origins"].tolist()):
        assert np.array_equal(patch, full[z:z + 40, y:y + 40, x:x + 40])
