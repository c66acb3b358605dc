"""`climb convert`: the Beam graph from a raw source to shards, Zarr arrays and a manifest.

    discover (driver) -> prepare: keys, splits, order (driver)
      -> Process: read -> validate -> encode, batched       (Beam ParDo, parallel)
           fragments staged under _staging/, volumes written to volumes.zarr/
      -> Plan: sort by (split, order), cut shards by size    (one GroupByKey)
      -> WriteShard: concatenate fragments -> tar + .idx     (Beam ParDo, parallel)
      -> Finalize: quarantine.jsonl, samples.json, croissant.json, README.md, manifest.json LAST, drop _staging/

Decoding happens once, in parallel; shard boundaries depend only on fragment sizes and the salted
order, so any runner and any number of workers write the same bytes. The graph ends in a single
sink (Finalize), which the Dask runner needs: it computes only the last node of the graph.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import uuid
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Iterator


class _QuietBeamImport(logging.Filter):
    """Beam warns at import that Google Cloud client libraries are absent; climb does not use them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


logging.getLogger().addFilter(_QuietBeamImport())

import apache_beam as beam  # noqa: E402 - after the filter, so the import stays quiet
from apache_beam.transforms.window import GlobalWindow  # noqa: E402
from apache_beam.utils.timestamp import MIN_TIMESTAMP  # noqa: E402
from apache_beam.utils.windowed_value import WindowedValue  # noqa: E402

from climb.pipelines.process import Context, numpy_free, process_item
from climb.pipelines.records import WorkItem, batches, prepare
from climb.pipelines.sources import SourceError, get_source
from climb.pipelines.writers.documents import documents, pin_documents
from climb.pipelines.writers.manifest import build_manifest
from climb.pipelines.writers.members import json_bytes
from climb.pipelines.writers.wds_tar import Fragment, cut_shards, write_shard
from climb.pipelines.writers.zarr_store import ensure_group
from climb.storage import filesystem, join, storage_options
from climb.transforms.phi import key_id
from climb.transforms.splits import check_fractions

STAGING = "_staging"
OUTPUT_NAMES = ("manifest.json", "README.md", "croissant.json", "samples.json", "quarantine.jsonl", "shards", "volumes.zarr", STAGING)


class ConvertError(Exception):
    """A conversion that cannot start or finish; the message says what to do."""


@dataclass
class ConvertConfig:
    """Everything one conversion needs. Only `recorded()` fields shape the output bytes."""

    source: str
    raw_url: str
    out_url: str
    runner: str = "direct"
    dask_address: str | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    shard_size: int = 256_000_000
    salt: str = "climb"
    limit: int | None = None
    s3_endpoint: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    overwrite: bool = False
    batch_size: int = 32
    progress: bool = False

    @property
    def dataset_url(self) -> str:
        return join(self.out_url, self.source)


def recorded_config(cfg: ConvertConfig, options: dict[str, Any], fractions: dict[str, float], hmac_key: bytes) -> dict[str, Any]:
    """The config written into the manifest: what determines the bytes, nothing about where or how."""
    return {
        "source": cfg.source,
        "salt": cfg.salt,
        "shard_size": cfg.shard_size,
        "limit": cfg.limit,
        "options": {k: v for k, v in sorted(options.items()) if k != "storage_options"},
        "split_fractions": [[name, fraction] for name, fraction in fractions.items()],
        "hmac_key_id": key_id(hmac_key),
    }


# ----------------------------------------------------------------------------------------- DoFns


class ProcessBatch(beam.DoFn):
    """Decode and encode a batch of samples; stage their fragments in one file per batch.

    With `processes` > 1 (the in-process runner), samples are decoded by a pool of forked worker
    processes, one per core: Beam's in-process runner is single-threaded, and decoding is
    CPU-bound. The pool is kept busy across elements: each batch is submitted in a few chunks and
    staged only once `AHEAD` later batches are queued behind it, so workers never wait while the
    parent stages a batch or Beam moves to the next element; the rest is staged in finish_bundle.
    At most AHEAD + 1 batches of encoded samples are held at a time. Workers inherit the context
    at fork, so a task carries only its work items; with `local_work` the elements are batch
    numbers whose items are in this process (_LOCAL_WORK). On Dask the cluster's workers are the
    parallelism, elements carry their items, and no pool is made.
    """

    AHEAD = 2
    CHUNKS_PER_PROCESS = 2

    def __init__(self, ctx: Context, processes: int = 1, local_work: str | None = None):
        self.ctx = ctx
        self.processes = processes
        self.local_work = local_work
        self.pool = None
        self.pending: deque = deque()

    def setup(self) -> None:
        self.info = get_source(self.ctx.source)

    def start_bundle(self) -> None:
        if self.processes > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker, initargs=(self.ctx,),
            )

    def finish_bundle(self) -> Iterator[WindowedValue]:
        try:
            while self.pending:
                for entry in self._stage_submitted(*self.pending.popleft()):
                    yield WindowedValue(entry, MIN_TIMESTAMP, [GlobalWindow()])
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)
                self.pool = None

    def process(self, element: int | tuple[int, list[WorkItem]]) -> Iterator[dict[str, Any]]:
        batch_id, items = (element, _LOCAL_WORK[self.local_work][element]) if self.local_work else element
        if self.pool is None:
            yield from self._stage(batch_id, [_decode(self.ctx, self.info, item) for item in items])
            return
        size = max(1, -(-len(items) // (self.processes * self.CHUNKS_PER_PROCESS)))
        chunks = [self.pool.submit(_process_chunk, items[i:i + size]) for i in range(0, len(items), size)]
        self.pending.append((batch_id, chunks))
        while len(self.pending) > self.AHEAD:
            yield from self._stage_submitted(*self.pending.popleft())

    def _stage_submitted(self, batch_id: int, chunks: list[Future]) -> list[dict[str, Any]]:
        return self._stage(batch_id, [result for chunk in chunks for result in chunk.result()])

    def _stage(self, batch_id: int, results: list[tuple[dict[str, Any], Fragment | None]]) -> list[dict[str, Any]]:
        """Write a batch's fragments to `_staging/batch-<id>.bin` and its `.done` marker; its entries."""
        staged = f"{STAGING}/batch-{batch_id:06d}.bin"
        entries, blobs, offset = [], [], 0
        for entry, frag in results:
            if frag is not None:
                members = {m: [off, size] for m, (off, size) in frag.members.items()}
                entry["staging"] = {"path": staged, "offset": offset, "length": len(frag.data), "members": members}
                offset += len(frag.data)
                blobs.append(frag.data)
            entries.append(entry)
        fs, root = filesystem(self.ctx.dataset_url, self.ctx.storage_options)
        if blobs:
            fs.pipe_file(f"{root}/{staged}", b"".join(blobs))
        fs.pipe_file(f"{root}/{STAGING}/batch-{batch_id:06d}-{len(entries)}.done", b"")
        return entries


_LOCAL_WORK: dict[str, list[list[WorkItem]]] = {}
"""Work lists of in-process runs by token: the pipeline then carries only batch numbers.

Beam encodes a Create's values into the pipeline, then pickles and bz2-compresses that payload four
times while building and running it: for 2,000 samples, 0.45 s before the first sample was decoded.
The in-process runner can look the batches up here instead; Dask workers receive their items in
the elements, which they need anyway.
"""

_WORKER_CTX: Context | None = None


def _start_worker(ctx: Context) -> None:
    global _WORKER_CTX
    _WORKER_CTX = ctx


def _decode(ctx: Context, info, item: WorkItem) -> tuple[dict[str, Any], Fragment | None]:
    """process_item with its entry made plain Python where it ran (in a worker, not the parent)."""
    entry, frag = process_item(ctx, info, item)
    return numpy_free(entry), frag


def _process_chunk(items: list[WorkItem]) -> list[tuple[dict[str, Any], Fragment | None]]:
    ctx = _WORKER_CTX
    info = get_source(ctx.source)
    return [_decode(ctx, info, item) for item in items]


def plan_shards(grouped: tuple[int, list[dict[str, Any]]], shard_size: int) -> Iterator[dict[str, Any]]:
    """Sort written samples by (split, order key) and cut each split into shards by bytes."""
    _, entries = grouped
    entries = list(entries)
    written = sorted((e for e in entries if e["kind"] == "written"), key=lambda e: (e["split"], e["order"]))
    by_split: dict[str, list[dict[str, Any]]] = {}
    for e in written:
        by_split.setdefault(e["split"], []).append(e)
    for split, rows in sorted(by_split.items()):
        for index, (start, end) in enumerate(cut_shards([e["size"] for e in rows], shard_size)):
            yield {
                "kind": "shard",
                "path": f"shards/{split}-{index:05d}.tar",
                "split": split,
                "fragments": [{"key": e["key"], **e["staging"]} for e in rows[start:end]],
            }
    yield {"kind": "summary", "entries": entries}


class WriteShard(beam.DoFn):
    """Concatenate a shard's staged fragments into a tar + .idx, written under temp names then moved."""

    READ_CHUNK = 64

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def _fragments(self, fs, root: str, specs: list[dict[str, Any]]) -> Iterator[Fragment]:
        from fsspec.implementations.local import LocalFileSystem

        read = _read_local_ranges if isinstance(fs, LocalFileSystem) else fs.cat_ranges
        for i in range(0, len(specs), self.READ_CHUNK):
            chunk = specs[i:i + self.READ_CHUNK]
            datas = read(
                [f"{root}/{s['path']}" for s in chunk],
                [s["offset"] for s in chunk],
                [s["offset"] + s["length"] for s in chunk],
            )
            for spec, data in zip(chunk, datas):
                if isinstance(data, Exception):
                    raise data
                members = {m: (off, size) for m, (off, size) in spec["members"].items()}
                yield Fragment(key=spec["key"], data=data, members=members)

    def process(self, element: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if element["kind"] != "shard":
            yield element
            return
        fs, root = filesystem(self.ctx.dataset_url, self.ctx.storage_options)
        name = element["path"].rsplit("/", 1)[-1]
        with tempfile.TemporaryDirectory(prefix="climb-shard-") as tmp:
            local = os.path.join(tmp, name)
            with open(local, "wb") as out:
                index, digest, size = write_shard(self._fragments(fs, root, element["fragments"]), out, name)
            target = f"{root}/{element['path']}"
            idx_target = target[: -len(".tar")] + ".idx"
            put_atomic(fs, local, target)
            idx_local = local + ".idx"
            index_bytes = json_bytes(index)
            with open(idx_local, "wb") as f:
                f.write(index_bytes)
            put_atomic(fs, idx_local, idx_target)
        yield {
            "kind": "shard_written",
            "path": element["path"],
            "split": element["split"],
            "sha256": digest,
            "bytes": size,
            "num_samples": len(element["fragments"]),
            "index": element["path"][: -len(".tar")] + ".idx",
            "index_sha256": hashlib.sha256(index_bytes).hexdigest(),
        }


def _read_local_ranges(paths: list[str], starts: list[int], ends: list[int]) -> list[bytes]:
    """fsspec's cat_ranges for local files, with plain reads instead of fsspec's file objects."""
    out = []
    for path, start, end in zip(paths, starts, ends):
        with open(path, "rb") as f:
            f.seek(start)
            out.append(f.read(end - start))
    return out


def put_atomic(fs, local_path: str, target: str) -> None:
    """Local: copy to a temp name beside the target, then rename. Object stores: one whole upload."""
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(fs, LocalFileSystem):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.tmp-{uuid.uuid4().hex}"
        fs.put_file(local_path, tmp)
        os.replace(tmp, target)
    else:
        fs.put_file(local_path, target)


def pipe_atomic(fs, target: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="climb-") as tmp:
        local = os.path.join(tmp, "data")
        with open(local, "wb") as f:
            f.write(data)
        put_atomic(fs, local, target)


class Finalize(beam.DoFn):
    """Write quarantine.jsonl, samples.json, croissant.json and README.md (pipelines/writers/documents.py),
    drop the staging area, write manifest.json (pinning them) last."""

    def __init__(self, ctx: Context, config: dict[str, Any], task_names: tuple[str, ...], extra: list[dict[str, Any]]):
        self.ctx = ctx
        self.config = config
        self.task_names = task_names
        self.extra = extra

    def process(self, grouped: tuple[int, list[dict[str, Any]]]) -> Iterator[str]:
        _, results = grouped
        results = list(results)
        summaries = [r for r in results if r["kind"] == "summary"]
        if len(summaries) != 1:
            raise RuntimeError(f"expected one plan summary, got {len(summaries)}")
        entries = summaries[0]["entries"] + self.extra
        shards = [{k: r[k] for k in ("path", "split", "sha256", "bytes", "num_samples", "index", "index_sha256")} for r in results if r["kind"] == "shard_written"]
        manifest = build_manifest(source=self.ctx.source, config=self.config, task_names=self.task_names, entries=entries, shards=shards)
        fs, root = filesystem(self.ctx.dataset_url, self.ctx.storage_options)
        docs = documents(manifest, entries)
        for name, data in docs.items():
            pipe_atomic(fs, f"{root}/{name}", data)
        manifest = pin_documents(manifest, docs)
        # staging goes before the commit point: a run killed in between leaves no manifest (and is
        # redone), never a finished manifest beside leftovers that would differ from a clean run
        if fs.exists(f"{root}/{STAGING}"):
            fs.rm(f"{root}/{STAGING}", recursive=True)
        pipe_atomic(fs, f"{root}/manifest.json", json_bytes(manifest))
        yield "manifest.json"


# ---------------------------------------------------------------------------------------- driver


def _prepare_output(cfg: ConvertConfig, opts: dict[str, Any]) -> None:
    """Refuse to clobber a finished conversion unless asked; clear partial output of a crashed run."""
    fs, root = filesystem(cfg.dataset_url, opts)
    if fs.exists(f"{root}/manifest.json"):
        if not cfg.overwrite:
            raise ConvertError(
                f"{cfg.dataset_url} already holds a finished conversion (manifest.json); "
                "pass --overwrite to replace it, or choose another OUT_URL"
            )
        fs.rm(f"{root}/manifest.json")
    for name in OUTPUT_NAMES:
        if fs.exists(f"{root}/{name}"):
            fs.rm(f"{root}/{name}", recursive=True)
    fs.makedirs(f"{root}/{STAGING}", exist_ok=True)


BATCHES_PER_DASK_PARTITION = 16
PARTITIONS_PER_DASK_THREAD = 1
DASK_MAX_PARTITIONS = 4096


def dask_partitions(batches: int, threads: int) -> int:
    """Bag partitions for a conversion of `batches` batches on a cluster with `threads` threads.

    On Dask, beam.Create puts 128 elements (here batches: 4,096 samples) in each bag partition by
    default, so a smaller conversion ran as one task on one worker. Each partition is one task of
    the Process step, so there must be at least one per worker thread (and no more than batches);
    beyond that a partition holds 16 batches. More would not pay off, because Beam's GroupByKey
    becomes a Dask shuffle whose cost grows with the partition count (measured: 32 partitions for
    1,000 samples took ~2 s longer than 2).
    """
    wanted = max(threads * PARTITIONS_PER_DASK_THREAD, -(-batches // BATCHES_PER_DASK_PARTITION))
    return max(1, min(wanted, batches, DASK_MAX_PARTITIONS))


def _dask_threads(address: str) -> int:
    """Worker threads of the running cluster at `address`."""
    from dask.distributed import Client

    with Client(address, set_as_default=False) as client:
        return sum(client.nthreads().values())


def _pipeline(cfg: ConvertConfig, batches: int):
    """The Beam pipeline for the configured runner (and the Dask cluster it started, if any)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    if cfg.runner == "direct":
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions([])), None
    if cfg.runner == "dask":
        from apache_beam.runners.dask.dask_runner import DaskRunner

        cluster = None
        address = cfg.dask_address
        if address:
            threads = _dask_threads(address)
        else:
            from dask.distributed import LocalCluster

            cluster = LocalCluster(
                n_workers=cfg.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.WARNING,
            )
            address, threads = cluster.scheduler_address, cfg.workers
        options = PipelineOptions([f"--dask_client_address={address}", f"--dask_npartitions={dask_partitions(batches, threads)}"])
        return beam.Pipeline(runner=DaskRunner(), options=options), cluster
    raise ConvertError(f"unknown runner {cfg.runner!r}; use direct or dask")


def _progress(cfg: ConvertConfig, opts: dict[str, Any], total: int, stop: threading.Event) -> None:
    """Poll the staging area for finished batches: works the same for every runner and store."""
    from tqdm import tqdm

    fs, root = filesystem(cfg.dataset_url, opts)
    with tqdm(total=total, desc=f"convert {cfg.source}", unit="sample", disable=not cfg.progress) as bar:
        while not stop.wait(0.5):
            try:
                markers = fs.glob(f"{root}/{STAGING}/*.done")
            except OSError:
                continue
            done = sum(int(m.rsplit("-", 1)[-1].removesuffix(".done")) for m in markers)
            bar.update(max(0, done - bar.n))
        bar.update(max(0, total - bar.n))


def _discover(info, cfg: ConvertConfig, options: dict[str, Any]) -> list:
    """The source's records; a label sheet it cannot use stops the run with one clear line.

    Per-sample problems are quarantined later; these are whole-dataset ones (a sheet in another
    encoding, a missing column, a malformed row the source refuses), which no sample survives.
    Missing files stay FileNotFoundError, which the CLI already reports as a user error.
    """
    try:
        return list(info.discover(cfg.raw_url, options))
    except UnicodeDecodeError as exc:
        raise ConvertError(
            f"{cfg.source}: a label sheet under {cfg.raw_url} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "re-save it as UTF-8"
        ) from exc
    except KeyError as exc:
        raise ConvertError(f"{cfg.source}: a label sheet under {cfg.raw_url} has no column {exc.args[0]!r}") from exc
    except (SourceError, ValueError) as exc:
        raise ConvertError(f"{cfg.source}: cannot list the samples under {cfg.raw_url}: {exc}") from exc


def convert(cfg: ConvertConfig, key: bytes) -> dict[str, Any]:
    """Run one conversion and return its manifest.

    Args:
        cfg: what to convert and where.
        key: the HMAC pseudonymization key (climb.transforms.phi.load_key).
    """
    import json

    info = get_source(cfg.source)
    opts = storage_options(cfg.out_url, cfg.s3_endpoint)
    raw_opts = storage_options(cfg.raw_url, cfg.s3_endpoint)
    options = {**info.defaults, **cfg.options}
    fractions = dict(options.pop("split_fractions", None) or info.split_fractions)
    check_fractions(fractions)
    raw_fs, raw_root = filesystem(cfg.raw_url, raw_opts)
    if not raw_fs.exists(raw_root):
        raise ConvertError(f"raw folder {cfg.raw_url} does not exist; check the path (RAW_URL)")
    records = _discover(info, cfg, {**options, "storage_options": raw_opts})
    items, duplicates = prepare(records, key=key, salt=cfg.salt, raw_url=cfg.raw_url, fractions=fractions, limit=cfg.limit)
    if not items:
        raise ConvertError(f"source {cfg.source} found no samples under {cfg.raw_url}; is this the right folder and source?")
    _prepare_output(cfg, opts)
    if "volume" in info.modalities:
        ensure_group(join(cfg.dataset_url, "volumes.zarr"), opts)
    ctx = Context(
        source=cfg.source, dataset_url=cfg.dataset_url, options={**options, "storage_options": raw_opts},
        storage_options=opts, hmac_key=key, salt=cfg.salt, fractions=fractions,
    )
    config = recorded_config(cfg, options, fractions, key)
    work = batches(items, cfg.batch_size)
    local_work = uuid.uuid4().hex if cfg.runner == "direct" else None
    if local_work:
        _LOCAL_WORK[local_work] = [batch for _, batch in work]
    pipeline, cluster = _pipeline(cfg, len(work))
    stop = threading.Event()
    # polling the staging area lists it every 0.5 s: only worth it when a bar is shown
    watcher = threading.Thread(target=_progress, args=(cfg, opts, len(items), stop), daemon=True)
    if cfg.progress:
        watcher.start()
    try:
        with pipeline as p:
            (
                p
                | "Batches" >> beam.Create([batch_id for batch_id, _ in work] if local_work else work, reshuffle=False)
                | "Process" >> beam.ParDo(ProcessBatch(ctx, cfg.workers if cfg.runner == "direct" else 1, local_work))
                | "KeyAll" >> beam.Map(lambda e: (0, e))
                | "Gather" >> beam.GroupByKey()
                | "Plan" >> beam.FlatMap(plan_shards, shard_size=cfg.shard_size)
                | "WriteShards" >> beam.ParDo(WriteShard(ctx))
                | "KeyResults" >> beam.Map(lambda r: (0, r))
                | "GatherResults" >> beam.GroupByKey()
                | "Finalize" >> beam.ParDo(Finalize(ctx, config, info.tasks, duplicates))
            )
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join()
        _LOCAL_WORK.pop(local_work, None)
        if cfg.runner == "dask":
            _close_dask(cluster)
    fs, root = filesystem(cfg.dataset_url, opts)
    return json.loads(fs.cat_file(f"{root}/manifest.json"))


def _close_dask(cluster) -> None:
    """Close the runner's client, then the cluster we started (the reverse order hangs or warns)."""
    from dask.distributed import default_client

    try:
        default_client().close()
    except ValueError:
        pass
    if cluster is not None:
        cluster.close()


def cli_convert(args) -> int:
    """`climb convert` entry point."""
    from climb.errors import UserError
    from climb.transforms.phi import load_key

    key = load_key(args.hmac_key_file)
    cfg = ConvertConfig(
        source=args.source,
        raw_url=args.raw_url,
        out_url=args.out_url,
        runner=args.runner,
        dask_address=args.dask_address,
        workers=args.workers,
        shard_size=args.shard_size,
        salt=args.salt,
        limit=args.limit,
        s3_endpoint=args.s3_endpoint,
        options=_parse_options(dict(args.option)),
        overwrite=args.overwrite,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    try:
        get_source(cfg.source)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    try:
        manifest = convert(cfg, key)
    except ConvertError as exc:
        raise UserError(str(exc)) from None
    c = manifest["counts"]
    print(
        f"{cfg.dataset_url}: {c['written']} written, {c['quarantined']} quarantined, {c['excluded']} excluded "
        f"of {c['discovered']} discovered; {len(manifest['shards'])} shards; splits "
        + ", ".join(f"{k}={v['num_samples']}" for k, v in manifest["splits"].items())
    )
    if c["quarantined"]:
        print(f"see {cfg.dataset_url}/quarantine.jsonl for the reasons (`climb inspect {cfg.dataset_url}`)")
    return 0


def _parse_options(raw: dict[str, str]) -> dict[str, Any]:
    """--option values are JSON when they parse as JSON (numbers, booleans, lists), else strings."""
    import json

    out: dict[str, Any] = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out
