"""Zarr v3 arrays for volumes and long videos: one array per sample, one writer per array.

Chunks are ~1-4 MiB and shaped like training crops (a cube-ish block rather than whole slices) so a
loader reading a random 3D patch touches few chunks. Integers get Blosc-zstd with bit-shuffle, floats
byte-shuffle; both are deterministic, so the same volume yields the same chunk bytes on every run.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from climb.storage import filesystem, join, storage_errors

CHUNK_TARGET_BYTES = 2 * 2**20


def chunk_shape(shape: tuple[int, ...], itemsize: int, target_bytes: int = CHUNK_TARGET_BYTES) -> tuple[int, ...]:
    """A chunk shape near `target_bytes`: equal edges (capped by the array), doubled until it fits."""
    edge = 16
    while True:
        nxt = tuple(min(s, edge * 2) for s in shape)
        if int(np.prod(nxt)) * itemsize > target_bytes or nxt == tuple(min(s, edge) for s in shape):
            break
        edge *= 2
    return tuple(max(1, min(s, edge)) for s in shape)


def _store(url: str, storage_options: dict[str, Any] | None):
    import zarr

    if "://" not in url or url.startswith("file://"):
        return zarr.storage.LocalStore(url.removeprefix("file://"))
    return zarr.storage.FsspecStore.from_url(url, storage_options=storage_options or {})


def ensure_group(root_url: str, storage_options: dict[str, Any] | None = None) -> None:
    """Create the `volumes.zarr` group (idempotent; its zarr.json bytes are fixed)."""
    import zarr

    zarr.open_group(store=_store(root_url, storage_options), mode="a", zarr_format=3)


def write_array(
    root_url: str,
    name: str,
    array: np.ndarray,
    attrs: dict[str, Any],
    storage_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write one array under the group at root_url and return its manifest entry.

    Returns:
        {"path": "volumes.zarr/<name>", "shape", "dtype", "chunks", "sha256", "bytes"}.

    Raises:
        StorageFailure: the store refused or lost the write (any OSError or network error, a
            missing folder included: nothing about the sample decides where outputs go). The
            array's name and URL stay out of the message.
    """
    import zarr
    from zarr.codecs import BloscCodec

    shuffle = "bitshuffle" if array.dtype.kind in "iu" else "shuffle"
    chunks = chunk_shape(array.shape, array.dtype.itemsize)
    with storage_errors("writing a Zarr array", missing_is_content=False):
        arr = zarr.create_array(
            store=_store(join(root_url, name), storage_options),
            shape=array.shape,
            chunks=chunks,
            dtype=array.dtype,
            compressors=[BloscCodec(cname="zstd", clevel=5, shuffle=shuffle, typesize=array.dtype.itemsize)],
            attributes=attrs,
            overwrite=True,
            zarr_format=3,
            fill_value=0,
        )
        arr[...] = array
        digest, size = hash_tree(join(root_url, name), storage_options)
    return {
        "path": f"volumes.zarr/{name}",
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "chunks": list(chunks),
        "sha256": digest,
        "bytes": size,
    }


def hash_tree(url: str, storage_options: dict[str, Any] | None = None) -> tuple[str, int]:
    """sha256 over every file below url (sorted relative path + content hash) and the total bytes."""
    fs, root = filesystem(url, storage_options)
    files = sorted(p for p in fs.find(root) if not p.endswith("/"))
    digest = hashlib.sha256()
    total = 0
    for path in files:
        data = fs.cat_file(path)
        rel = path[len(root.rstrip("/")) + 1:]
        digest.update(rel.encode("utf-8") + b"\0" + hashlib.sha256(data).digest())
        total += len(data)
    return digest.hexdigest(), total
