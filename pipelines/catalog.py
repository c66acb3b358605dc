"""`climb catalog`: write a dataset's sample catalog (catalog.parquet) and summarise it.

The catalog of a finished conversion is built from its shards alone: each shard's `.idx` (checked
against the manifest), the `json` member of every sample and the first bytes of its PNG/NPY members,
fetched with one batched range read per shard. Shards are read one at a time, their rows written to
a local part file, then every part is written into one Parquet file with one row group per shard and
a schema that is the union over shards; memory stays one shard's rows whatever the dataset size.

The file is written with fixed settings and no timestamp, so the same dataset gives the same bytes;
its sha256 is what views record to notice a catalog that changed under them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from climb.schemas.catalog import CATALOG_FILE, HEADER_BYTES, catalog_rows, catalog_table, infer_fields, merge_fields
from climb.schemas.manifest import safe_relative_path
from climb.storage import filesystem

PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "write_statistics": True, "use_dictionary": True}


def _shard_rows(fs, root: str, source: str, shard: dict[str, Any]) -> list[dict[str, Any]]:
    """Catalog rows of one shard: its index, then every sample's json and member heads in one batch."""
    if not (safe_relative_path(shard.get("path")) and safe_relative_path(shard.get("index"))):
        raise ValueError(f"the manifest names an unsafe shard path {shard.get('path')!r}; refusing to read it")
    raw_index = fs.cat_file(f"{root}/{shard['index']}")
    pinned = shard.get("index_sha256")
    if pinned is not None and hashlib.sha256(raw_index).hexdigest() != pinned:
        raise ValueError(f"{shard['index']} does not match the manifest's index_sha256; run `climb verify`")
    entries = json.loads(raw_index)["samples"]
    if len(entries) != shard["num_samples"]:
        raise ValueError(f"{shard['index']} lists {len(entries)} samples, the manifest says {shard['num_samples']}")
    wanted: list[tuple[int, str, int, int]] = []
    for i, entry in enumerate(entries):
        for member, (offset, size) in entry["members"].items():
            if member == "json":
                wanted.append((i, member, offset, offset + size))
            elif member.endswith((".png", ".npy")):
                wanted.append((i, member, offset, offset + min(size, HEADER_BYTES)))
    path = f"{root}/{shard['path']}"
    blobs = fs.cat_ranges([path] * len(wanted), [w[2] for w in wanted], [w[3] for w in wanted])
    metas: list[dict[str, Any]] = [{} for _ in entries]
    heads: list[dict[str, bytes]] = [{} for _ in entries]
    for (i, member, _, _), blob in zip(wanted, blobs):
        if isinstance(blob, Exception):
            raise blob
        if member == "json":
            metas[i] = json.loads(blob)
        else:
            heads[i][member] = bytes(blob)
    return catalog_rows(dataset=source, split=shard["split"], shard=shard["path"], entries=entries, metas=metas, heads=heads)


def write_table(table: pa.Table, path: str) -> None:
    """One shard's catalog rows as an Arrow IPC file (the part Finalize merges)."""
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_table(data: bytes) -> pa.Table:
    return pa.ipc.open_file(pa.BufferReader(data)).read_all()


def write_parts(parts: Iterator[pa.Table], target: str) -> None:
    """Write per-shard tables (any schemas) into one Parquet file at local path `target`.

    The parts are spilled to a temporary folder while their column union is computed, then cast to it
    and written one row group each, so the final schema does not depend on which shard came first.
    """
    with tempfile.TemporaryDirectory(prefix="climb-catalog-") as tmp:
        paths, fields = [], []
        for n, table in enumerate(parts):
            extra = [f for f in table.schema if f.name not in _LOCATION]
            fields = merge_fields(fields, extra)
            paths.append(os.path.join(tmp, f"{n:06d}.arrow"))
            write_table(table, paths[-1])
        schema = catalog_table([], fields).schema
        with pq.ParquetWriter(target, schema, **PARQUET_OPTIONS) as writer:
            for p in paths:
                with pa.memory_map(p) as source:
                    table = pa.ipc.open_file(source).read_all()
                writer.write_table(_conform(table, schema))


_LOCATION = {f.name for f in catalog_table([], []).schema}


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The table with every column of `schema`, in its order and types (missing columns null)."""
    columns = []
    for f in schema:
        if f.name in table.column_names:
            column = table.column(f.name)
            columns.append(column if column.type == f.type else _cast(column, f.type))
        else:
            columns.append(pa.nulls(len(table), type=f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _cast(column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    """Widen a metadata column (null/bool/int -> float or string), as merge_fields decided."""
    if pa.types.is_string(kind) and pa.types.is_boolean(column.type):
        return pa.chunked_array([pa.array([None if v is None else str(v).lower() for v in column.to_pylist()], kind)])
    return column.cast(kind)


def sha256_file(path: str) -> tuple[str, int]:
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256")
    return digest.hexdigest(), os.path.getsize(path)


def commit_catalog(fs, root: str, parts: list[str]) -> dict[str, Any]:
    """Merge the shards' catalog parts (paths under root, in manifest shard order) into catalog.parquet.

    Returns:
        the manifest's `catalog` entry: {path, sha256, bytes, version}.
    """
    from climb.schemas.catalog import CATALOG_VERSION

    def tables() -> Iterator[pa.Table]:
        for part in parts:
            yield read_table(fs.cat_file(f"{root}/{part}"))

    from climb.pipelines.stages import atomic_file

    with atomic_file(fs, root, f"{root}/{CATALOG_FILE}") as local:
        write_parts(tables(), local)
        digest, size = sha256_file(local)
    return {"path": CATALOG_FILE, "sha256": digest, "bytes": size, "version": CATALOG_VERSION}


def build_catalog(dataset_url: str, options: dict[str, Any] | None = None, progress: bool = False) -> dict[str, Any]:
    """Write DATASET/catalog.parquet from the dataset's shards; return {path, sha256, bytes, rows}."""
    from tqdm import tqdm

    from climb.pipelines.verify import load_manifest

    manifest = load_manifest(dataset_url, options)
    fs, root = filesystem(dataset_url, options)
    root = root.rstrip("/")
    shards = manifest["shards"]

    def parts() -> Iterator[pa.Table]:
        for shard in tqdm(shards, desc=f"catalog {manifest['source']}", unit="shard", disable=not progress):
            rows = _shard_rows(fs, root, manifest["source"], shard)
            yield catalog_table(rows, infer_fields(rows))

    with tempfile.TemporaryDirectory(prefix="climb-catalog-") as tmp:
        local = os.path.join(tmp, CATALOG_FILE)
        write_parts(parts(), local)
        digest, size = sha256_file(local)
        fs.put_file(local, f"{root}/{CATALOG_FILE}")
    return {"path": CATALOG_FILE, "sha256": digest, "bytes": size, "rows": sum(s["num_samples"] for s in shards)}


def describe(dataset_url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """A catalog's rows per split, its columns with types and how many rows know each value."""
    from climb.loaders.views import read_catalog

    table, digest = read_catalog(dataset_url, options)
    splits: dict[str, int] = {}
    for split in table.column("split").to_pylist():
        splits[split] = splits.get(split, 0) + 1
    columns = {f.name: {"type": str(f.type), "known": table.num_rows - table.column(f.name).null_count} for f in table.schema}
    return {"url": dataset_url, "sha256": digest, "rows": table.num_rows, "splits": dict(sorted(splits.items())), "columns": columns}


def cli_catalog(args) -> int:
    """`climb catalog DATASET...`: build missing catalogs (all with --rebuild) and summarise them."""
    from climb.storage import storage_options

    for url in args.dataset_urls:
        url = url.rstrip("/").removesuffix("/manifest.json")
        opts = storage_options(url, args.s3_endpoint)
        fs, root = filesystem(url, opts)
        if args.rebuild or not fs.exists(f"{root.rstrip('/')}/{CATALOG_FILE}"):
            build_catalog(url, opts, progress=not args.json)
        info = describe(url, opts)
        if args.json:
            print(json.dumps(info, sort_keys=True))
            continue
        kinds = {"label": 0, "meta": 0, "shape": 0}
        for name in info["columns"]:
            family = name.split(".", 1)[0]
            if family in kinds:
                kinds[family] += 1
        print(f"{url}/{CATALOG_FILE}: {info['rows']} samples ("
              + ", ".join(f"{k}={v}" for k, v in info["splits"].items())
              + f"); {kinds['label']} label, {kinds['shape']} shape and {kinds['meta']} metadata columns; sha256 {info['sha256'][:16]}...")
        if args.columns:
            width = max(len(n) for n in info["columns"])
            for name, col in info["columns"].items():
                print(f"  {name:<{width}}  {col['type']:<28} known in {col['known']}/{info['rows']}")
    return 0
