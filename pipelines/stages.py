"""The conversion's stage functions, shared by the Beam graph (pipelines/graph.py) and the local
executor (pipelines/local.py): process a batch, plan a split's shards, write a shard.

Each stage takes and returns small values, so any runner may move them between machines:

    process_batch(batch ref)  -> rows (one per written sample), (split, subject) pairs, a Summary
    plan_specs(rows of a split) -> shard specs: plan_split (where each shard starts), shard_of
                                 (each row's shard), shard_spec (what to write, in order)
    write_shard(spec)         -> the shard's result (path, sha256, bytes, count)

Fragments are staged per attempt: a retried batch writes new files under a new uuid and its rows
point at them, so a runner that runs a batch twice never mixes two attempts' bytes, and WriteShard
checks every fragment's length and sha256 before concatenating it.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import os
import tempfile
import uuid
from typing import Any, Iterable, Iterator

from climb.pipelines.catalog import write_table
from climb.pipelines.job import Worker, worker_id
from climb.pipelines.limits import limit
from climb.pipelines.process import numpy_free, process_item
from climb.pipelines.summary import Summary, TaskTally, multiset_add
from climb.pipelines.worklist import read_batch
from climb.pipelines.writers.members import json_bytes
from climb.pipelines.writers.record_types import config_options, source_tasks
from climb.pipelines.writers.samples_index import samples_index_part
from climb.pipelines.writers.wds_tar import Fragment, cut_shards, parse_fragment, write_shard as write_tar
from climb.prefetch import RawPrefetch
from climb.schemas.catalog import HEADER_BYTES, catalog_rows, catalog_table
from climb.storage import filesystem, storage_errors

STAGING = "_staging"
PARTIAL = ".tmp-"
"""Marks a local file `pipe_atomic` is still writing beside its target: a run killed mid-write
leaves one, and the next run clears every name holding it (see convert._prepare_output)."""

Row = tuple[str, str, int, str, str, int, str]
"""A written sample, as planning needs it: (split, order, size, key, staged path, offset, sha256)."""

READ_WINDOW = 32 << 20
"""Bytes of a shard's fragments read at once while it is assembled from an object store, where a
window's ranges of one staged file are merged into one GET."""
LOCAL_READ_WINDOW = 2 << 20
"""The same from a local disk, where nothing is merged: a writing worker holds only this much."""
MERGE_GAP = 1 << 20
"""From an object store, ranges of one staged file closer than this are one GET: a shard's
fragments in a window sit a few to a staged file, and a request costs far more than a MiB of
transfer (2,000 DICOMs to the local S3 server: ~1 GET per fragment before)."""


def process_batch(worker: Worker, batch_id: int, work_path: str) -> tuple[list[Row], list[tuple[str, str]], Summary]:
    """Decode and encode one batch; stage its fragments and quarantine entries in per-attempt files.

    Returns:
        (rows of written samples, distinct (split, subject) pairs of written samples, the batch's
        Summary). The `.done` marker, written last, names the attempt and its sample count (the
        progress bar counts them).
    """
    job = worker.job
    items = read_batch(work_path, job.dataset_url, job.storage_options, worker.key)
    attempt = uuid.uuid4().hex[:16]
    staged = f"{STAGING}/batch-{batch_id:06d}-{attempt}.bin"
    quarantine_file = f"{STAGING}/quarantine-{batch_id:06d}-{attempt}.jsonl"
    summary = Summary(batches=1, items=len(items), tasks={name: TaskTally(name) for name in job.task_names})
    rows: list[Row] = []
    subjects: set[tuple[str, str]] = set()
    blobs: list[bytes] = []
    quarantined: list[bytes] = []
    offset = 0
    options = worker.ctx.options
    with RawPrefetch([item.record.paths for item in items], options.get("storage_options"), limit(options, "max_file_bytes")) as ahead:
        for i, item in enumerate(items):
            with ahead.sample(i):
                entry, frag = process_item(worker.ctx, worker.info, item)
            entry = numpy_free(entry)
            summary.key_fingerprint = multiset_add(summary.key_fingerprint, item.key)
            summary.add_entry(entry, job.task_names)
            if frag is not None:
                rows.append((entry["split"], entry["order"], len(frag.data), entry["key"], staged, offset,
                             hashlib.sha256(frag.data).hexdigest()))
                subjects.add((entry["split"], entry["subject"]))
                blobs.append(frag.data)
                offset += len(frag.data)
            elif entry["kind"] == "quarantined":
                quarantined.append(json_bytes(entry) + b"\n")
    fs, root = filesystem(job.dataset_url, job.storage_options)
    with storage_errors(f"staging batch {batch_id}", missing_is_content=False):
        if blobs:
            fs.pipe_file(f"{root}/{staged}", b"".join(blobs))
        if quarantined:
            fs.pipe_file(f"{root}/{quarantine_file}", b"".join(quarantined))
        fs.pipe_file(f"{root}/{STAGING}/batch-{batch_id:06d}-{attempt}-{len(items)}.done", b"")
    if quarantined:
        summary.quarantine_files.append(quarantine_file)
    summary.workers[worker_id()] += 1
    return rows, sorted(subjects), summary


def plan_split(rows: list[Row], shard_size: int) -> list[str]:
    """Cut one split into shards by bytes, in order-key order: the order key where each shard starts.

    Depends only on (order, size) of the rows, so the same samples give the same shards whatever
    runner or worker produced the rows, and in whatever order they arrived. The result is small (one
    string per shard): rows find their shard in it (shard_of), wherever they are.
    """
    ordered = sorted((r[1], r[2]) for r in rows)
    return [ordered[start][0] for start, _ in cut_shards([size for _, size in ordered], shard_size)]


def shard_path(split: str, index: int) -> str:
    return f"shards/{split}-{index:05d}.tar"


def shard_of(row: Row, starts: list[str]) -> str:
    """The shard path of a row, given its split's shard start order keys (plan_split)."""
    return shard_path(row[0], bisect.bisect_right(starts, row[1]) - 1)


def plan_specs(rows: list[Row], shard_size: int) -> list[dict[str, Any]]:
    """The shard specs of one split's rows: plan_split, then every row to its shard (shard_of)."""
    starts = plan_split(rows, shard_size)
    by_shard: dict[str, list[Row]] = {}
    for row in rows:
        by_shard.setdefault(shard_of(row, starts), []).append(row)
    return [shard_spec(path, shard_rows) for path, shard_rows in sorted(by_shard.items())]


def shard_spec(path: str, rows: Iterable[Row]) -> dict[str, Any]:
    """What write_shard needs for one shard: its rows' staging references, in order-key order."""
    ordered = sorted(rows, key=lambda r: r[1])
    return {
        "path": path,
        "split": ordered[0][0],
        "fragments": [[r[3], r[4], r[5], r[2], r[6]] for r in ordered],
    }


class CorruptFragment(RuntimeError):
    """A staged fragment whose bytes are not those its row recorded (length or sha256)."""


def _on_local_disk(fs) -> bool:
    """Whether `fs` is the local filesystem: plain reads and renames there, whole-object requests elsewhere."""
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _read_ranges(fs, paths: list[str], starts: list[int], ends: list[int]) -> list[bytes]:
    """Byte ranges of staged files: plain reads for local files; from an object store, ranges of one
    staged file less than MERGE_GAP apart are merged into one GET (fsspec.utils.merge_offset_ranges)
    and cut apart again here."""
    if not _on_local_disk(fs):
        from fsspec.utils import merge_offset_ranges

        merged = merge_offset_ranges(list(paths), list(starts), list(ends), max_gap=MERGE_GAP, sort=True)
        blocks = fs.cat_ranges(*merged, on_error="raise")
        # per staged file: its merged blocks' starts (ascending, as merge_offset_ranges sorts) and bytes
        by_path: dict[str, tuple[list[int], list[bytes]]] = {}
        for path, block_start, block in zip(merged[0], merged[1], blocks):
            firsts, datas = by_path.setdefault(path, ([], []))
            firsts.append(block_start)
            datas.append(block)
        out = []
        for path, start, end in zip(paths, starts, ends):
            firsts, datas = by_path[path]
            at = bisect.bisect_right(firsts, start) - 1
            out.append(datas[at][start - firsts[at]:end - firsts[at]])
        return out
    out = []
    with contextlib.ExitStack() as stack:
        files: dict[str, Any] = {}  # a shard's fragments sit ~32 to a staged file: open each once
        for path, start, end in zip(paths, starts, ends):
            if path not in files:
                files[path] = stack.enter_context(open(path, "rb"))
            files[path].seek(start)
            out.append(files[path].read(end - start))
    return out


def _windows(specs: list[list], limit: int) -> Iterator[list[list]]:
    """A shard's fragment specs cut into runs of about `limit` bytes (at least one fragment each):
    the bytes held at once while the shard is assembled."""
    run: list[list] = []
    held = 0
    for spec in specs:
        if run and held + spec[3] > limit:
            yield run
            run, held = [], 0
        run.append(spec)
        held += spec[3]
    if run:
        yield run


def fragments(fs, root: str, specs: list[list]) -> Iterator[Fragment]:
    """The staged fragments of a shard, in order, each checked against its recorded length and sha256."""
    fs.invalidate_cache(f"{root}/{STAGING}")  # staged by other processes after any cached listing
    for chunk in _windows(specs, LOCAL_READ_WINDOW if _on_local_disk(fs) else READ_WINDOW):
        datas = _read_ranges(fs, [f"{root}/{s[1]}" for s in chunk], [s[2] for s in chunk], [s[2] + s[3] for s in chunk])
        for (key, path, offset, length, sha256), data in zip(chunk, datas):
            if len(data) != length or hashlib.sha256(data).hexdigest() != sha256:
                raise CorruptFragment(
                    f"staged fragment of sample {key} in {path} at {offset} is not the {length} bytes that were "
                    f"staged (read {len(data)} bytes{'' if len(data) != length else ', sha256 differs'})"
                )
            yield parse_fragment(key, data)


def write_shard(worker: Worker, spec: dict[str, Any]) -> dict[str, Any]:
    """Concatenate a shard's verified fragments into a tar + .idx, each written under a temp name then moved;
    stage the shard's catalog rows and its rows of samples.json for Finalize (both from the json
    members read on the way, so no shard is read twice)."""
    job = worker.job
    fs, root = filesystem(job.dataset_url, job.storage_options)
    name = spec["path"].rsplit("/", 1)[-1]
    target = f"{root}/{spec['path']}"
    part = part_path(spec["path"], "catalog", ".arrow")
    with storage_errors(f"writing {spec['path']}", missing_is_content=False):
        looked = CatalogTap(fragments(fs, root, spec["fragments"]))
        with atomic_file(fs, root, target) as local, open(local, "wb") as out:
            index, digest, size = write_tar(looked, out, name)
        index_bytes = json_bytes(index)
        pipe_atomic(fs, target[: -len(".tar")] + ".idx", index_bytes)
        with atomic_file(fs, root, f"{root}/{part}") as local:
            looked.write_part(job.source, spec, index["samples"], local)
        samples_part = part_path(spec["path"], "samples", ".json")
        samples_bytes = samples_index_part(looked.metas, source_tasks(worker.info, config_options(worker.info, job.config)))
        pipe_atomic(fs, f"{root}/{samples_part}", samples_bytes)
    return {
        "path": spec["path"],
        "split": spec["split"],
        "sha256": digest,
        "bytes": size,
        "num_samples": len(spec["fragments"]),
        "index": spec["path"][: -len(".tar")] + ".idx",
        "index_sha256": hashlib.sha256(index_bytes).hexdigest(),
        "catalog_part": part,
        "samples_part": samples_part,
        "samples_part_sha256": hashlib.sha256(samples_bytes).hexdigest(),
        "writer": worker_id(),
    }


def part_path(shard: str, kind: str, ext: str) -> str:
    """Where one of a shard's parts (its catalog rows, its rows of samples.json) waits for Finalize:
    inside the staging area, gone after the commit."""
    return f"{STAGING}/{kind}/{shard.rsplit('/', 1)[-1][: -len('.tar')]}{ext}"


class CatalogTap:
    """Passes a shard's fragments through to the tar writer, keeping what the catalog needs of each
    sample (its json member and the first bytes of PNG/NPY members), so no shard is read twice."""

    def __init__(self, fragments: Iterator[Fragment]):
        self.fragments = fragments
        self.metas: list[dict[str, Any]] = []
        self.heads: list[dict[str, bytes]] = []

    def __iter__(self) -> Iterator[Fragment]:
        for frag in self.fragments:
            meta, heads = {}, {}
            for member, (offset, size) in frag.members.items():
                if member == "json":
                    meta = json.loads(frag.data[offset:offset + size])
                elif member.endswith((".png", ".npy")):
                    heads[member] = bytes(frag.data[offset:offset + min(size, HEADER_BYTES)])
            self.metas.append(meta)
            self.heads.append(heads)
            yield frag

    def write_part(self, source: str, spec: dict[str, Any], entries: list[dict[str, Any]], path: str) -> None:
        rows = catalog_rows(dataset=source, split=spec["split"], shard=spec["path"], entries=entries,
                            metas=self.metas, heads=self.heads)
        write_table(catalog_table(rows), path)


@contextlib.contextmanager
def _renamed_into_place(local: str, target: str) -> Iterator[str]:
    """Yield the local path `local`; when the block ends cleanly it is renamed to `target` (same
    filesystem, so the rename is atomic); either way no file is left at `local`."""
    try:
        yield local
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(local, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(local)


@contextlib.contextmanager
def atomic_file(fs, root: str, target: str) -> Iterator[str]:
    """A local path to write; when the block ends cleanly, that file becomes `target`, whole.

    On a local output the file is written inside the dataset's staging area, on the same
    filesystem, and renamed into place: a shard's bytes are written once and need no room in /tmp
    (256 MB per writing worker by default), and a crash leaves the file where a rerun and Finalize
    clear it. On an object store it is a temporary local file, uploaded in one request.
    """
    if not _on_local_disk(fs):
        with tempfile.TemporaryDirectory(prefix="climb-") as tmp:
            local = os.path.join(tmp, target.rsplit("/", 1)[-1])
            yield local
            fs.put_file(local, target)
        return
    local = f"{root}/{STAGING}/tmp/{uuid.uuid4().hex}-{target.rsplit('/', 1)[-1]}"
    os.makedirs(os.path.dirname(local), exist_ok=True)
    with _renamed_into_place(local, target):
        yield local


def pipe_atomic(fs, target: str, data: bytes) -> None:
    """Write `data` to `target` whole or not at all: on a local output under a temp name beside the
    target, then renamed (one write; no copy through /tmp; also after the staging area is gone, as
    for manifest.json); an object store's single PUT is already all or nothing."""
    if not _on_local_disk(fs):
        fs.pipe_file(target, data)
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with _renamed_into_place(f"{target}{PARTIAL}{uuid.uuid4().hex}", target) as tmp, open(tmp, "wb") as f:
        f.write(data)
