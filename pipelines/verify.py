"""`climb verify`: recompute every hash the manifest pins and name each file that differs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from climb.pipelines.writers.zarr_store import hash_tree
from climb.schemas.manifest import safe_relative_path, validate_manifest
from climb.storage import filesystem, join, storage_options


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def load_manifest(dataset_url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read OUT_URL/SOURCE/manifest.json with a clear error when it is not there."""
    fs, root = filesystem(dataset_url, options)
    path = f"{root.rstrip('/')}/manifest.json"
    if not fs.exists(path):
        raise FileNotFoundError(
            f"no manifest.json in {dataset_url}: not a finished climb conversion (a crashed run leaves none); "
            "point at OUT_URL/SOURCE"
        )
    return json.loads(fs.cat_file(path))


def _sha256(fs, path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with fs.open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def verify(dataset_url: str, options: dict[str, Any] | None = None, progress: bool = False) -> list[Problem]:
    """Every mismatch between the files under dataset_url and its manifest; empty when all match."""
    from tqdm import tqdm

    manifest = load_manifest(dataset_url, options)
    problems = [Problem("manifest.json", p) for p in validate_manifest(manifest)]
    fs, root = filesystem(dataset_url, options)
    root = root.rstrip("/")
    shards = manifest["shards"]
    volumes = manifest.get("volumes", [])
    for shard in tqdm(shards, desc="verify shards", unit="shard", disable=not progress):
        if not (safe_relative_path(shard.get("path")) and safe_relative_path(shard.get("index"))):
            continue  # reported by validate_manifest; never opened
        path = f"{root}/{shard['path']}"
        if not fs.exists(path):
            problems.append(Problem(shard["path"], "missing"))
            continue
        digest, size = _sha256(fs, path)
        if size != shard["bytes"]:
            problems.append(Problem(shard["path"], f"size {size} != manifest {shard['bytes']}"))
        if digest != shard["sha256"]:
            problems.append(Problem(shard["path"], f"sha256 {digest[:16]}... != manifest {shard['sha256'][:16]}..."))
        index_path = f"{root}/{shard['index']}"
        if not fs.exists(index_path):
            problems.append(Problem(shard["index"], "missing index"))
        elif "index_sha256" in shard and _sha256(fs, index_path)[0] != shard["index_sha256"]:
            problems.append(Problem(shard["index"], "sha256 differs from the manifest"))
    catalog = manifest.get("catalog")
    if isinstance(catalog, dict) and safe_relative_path(catalog.get("path")):
        path = f"{root}/{catalog['path']}"
        if not fs.exists(path):
            problems.append(Problem(catalog["path"], "missing"))
        elif _sha256(fs, path)[0] != catalog.get("sha256"):
            problems.append(Problem(catalog["path"], "sha256 differs from the manifest"))
    for doc in manifest.get("documents", []):
        if not safe_relative_path(doc.get("path")):
            continue
        path = f"{root}/{doc['path']}"
        if not fs.exists(path):
            problems.append(Problem(doc["path"], "missing"))
        elif _sha256(fs, path)[0] != doc["sha256"]:
            problems.append(Problem(doc["path"], "sha256 differs from the manifest"))
    for volume in tqdm(volumes, desc="verify volumes", unit="array", disable=not progress):
        if not safe_relative_path(volume.get("path")):
            continue
        url = join(dataset_url, volume["path"])
        fs_v, path_v = filesystem(url, options)
        if not fs_v.exists(path_v):
            problems.append(Problem(volume["path"], "missing"))
            continue
        digest, _ = hash_tree(url, options)
        if digest != volume["sha256"]:
            problems.append(Problem(volume["path"], f"sha256 {digest[:16]}... != manifest {volume['sha256'][:16]}..."))
    return problems


def cli_verify(args) -> int:
    """`climb verify` entry point: exit 0 when everything matches, 1 naming each mismatch."""
    from climb.loaders.views import is_view_url

    opts = storage_options(args.dataset_url, args.s3_endpoint)
    if is_view_url(args.dataset_url):
        return _verify_view(args.dataset_url, opts)
    problems = verify(args.dataset_url, opts, progress=True)
    manifest = load_manifest(args.dataset_url, opts)
    if problems:
        for p in problems:
            print(f"MISMATCH {p}")
        print(f"{len(problems)} problem(s) in {args.dataset_url}")
        return 1
    print(
        f"OK {args.dataset_url}: {len(manifest['shards'])} shards, {len(manifest.get('volumes', []))} "
        f"Zarr arrays and {len(manifest.get('documents', []))} documents match the manifest"
    )
    return 0


def _verify_view(view_url: str, opts: dict[str, Any]) -> int:
    """A pinned view is current when every catalog it was cut from still has the pinned sha256."""
    from climb.errors import UserError
    from climb.loaders.views import load_view, stale
    from climb.schemas.views import ViewError

    try:
        view = load_view(view_url, opts)
    except ViewError as exc:
        raise UserError(str(exc)) from None
    problems = stale(view, opts)
    for p in problems:
        print(f"STALE {p}")
    if problems:
        print(f"{len(problems)} problem(s) in view {view_url}")
        return 1
    print(f"OK view {view_url}: the {len(view.datasets)} catalog(s) it was cut from are unchanged")
    return 0
