"""`climb convert`: the driver of a conversion, from a raw source to shards, Zarr arrays and a manifest.

    discover -> prepare: keys, splits, order                 (driver; pipelines/records.py)
      -> work list: batches of items as files under _work/  (driver; pipelines/worklist.py)
      -> the graph (pipelines/graph.py; stages in pipelines/stages.py):
         Process batches -> Plan shards per split -> WriteShards -> Finalize (manifest.json LAST)
         run by Beam (Dask, FnApiRunner, any Beam runner; pipelines/runners.py) or by the embedded
         default, the same stages on a local process pool (pipelines/local.py)

The driver keeps only references to the work list and the evidence of what it listed (counts and a
key-set fingerprint): its memory does not grow with the decoded data, and Finalize fails the job
when results do not account for every listed sample exactly once. Shard boundaries depend only on
fragment sizes and the salted order, so every runner and worker count writes the same bytes.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

from climb.pipelines.finalize import Expected, LostWorkError
from climb.pipelines.job import Job
from climb.pipelines.keys import KeyRef, env_ref, file_ref, resolve
from climb.pipelines.local import run_local
from climb.pipelines.records import iter_prepared
from climb.pipelines.runners import DASK, LOCAL, beam_args, beam_pipeline, close_dask, dask_bag_shuffle
from climb.pipelines.sources import SourceError, get_source
from climb.pipelines.stages import PARTIAL, STAGING
from climb.pipelines.summary import Summary, summarize
from climb.pipelines.worklist import WORK, WorkList, write_worklist
from climb.pipelines.writers.members import json_bytes
from climb.pipelines.writers.png import png_codec
from climb.pipelines.writers.zarr_store import ensure_group
from climb.storage import filesystem, join, storage_options
from climb.transforms.phi import KEY_ENV, key_id
from climb.transforms.splits import check_fractions

OUTPUT_NAMES = ("manifest.json", "README.md", "croissant.json", "samples.json", "quarantine.jsonl", "catalog.parquet", "shards", "volumes.zarr", STAGING, WORK)


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
    beam_options: list[str] = field(default_factory=list)
    run_log: str | None = None

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


# ---------------------------------------------------------------------------------------- driver


@contextlib.contextmanager
def key_reference(key: bytes | KeyRef) -> Iterator[tuple[bytes, KeyRef]]:
    """(key bytes for the driver, reference for the workers).

    A KeyRef is resolved here too, so a missing or wrong key fails before any work. Key bytes get
    a private (0600) temporary key file on this machine for the duration of the run.
    """
    if isinstance(key, KeyRef):
        yield resolve(key), key
        return
    with tempfile.TemporaryDirectory(prefix="climb-key-") as tmp:
        path = os.path.join(tmp, "hmac.key")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        yield key, file_ref(key, path)


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
    for partial in fs.glob(f"{root}/*{PARTIAL}*"):  # a document a killed Finalize was writing
        fs.rm(partial)
    fs.makedirs(f"{root}/{STAGING}", exist_ok=True)


def _progress(cfg: ConvertConfig, opts: dict[str, Any], total: int, stop: threading.Event) -> None:
    """Poll the staging area for finished batches: works the same for every runner and store."""
    from tqdm import tqdm

    # its own filesystem object: the listings it caches must not hide staged files from Finalize
    fs, root = filesystem(cfg.dataset_url, {**opts, "skip_instance_cache": True})
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


def convert(cfg: ConvertConfig, key: bytes | KeyRef) -> dict[str, Any]:
    """Run one conversion and return its manifest.

    Args:
        cfg: what to convert and where.
        key: the HMAC pseudonymization key (climb.transforms.phi.load_key), or a reference to it
            that every worker can resolve (pipelines/keys.py). Key bytes are handed to the workers
            through a private temporary key file on this machine, which suits the local runners;
            a remote cluster needs a reference (docs/dask.md).
    """
    import json

    info = get_source(cfg.source, cfg.options)
    if info.name != cfg.source:  # a spec file given by its path: the dataset takes the spec's name
        cfg = replace(cfg, source=info.name)
    opts = storage_options(cfg.out_url, cfg.s3_endpoint)
    raw_opts = storage_options(cfg.raw_url, cfg.s3_endpoint)
    options = {**info.defaults, **cfg.options}
    try:
        options["png"] = png_codec(options)  # recorded, so a reproduction uses the same codec
    except ValueError as exc:
        raise ConvertError(str(exc)) from None
    fractions = dict(options.pop("split_fractions", None) or info.split_fractions)
    check_fractions(fractions)
    if cfg.runner != LOCAL:
        beam_args(cfg.beam_options)  # refuse bad options before any work
    with key_reference(key) as (key_bytes, key_ref):
        raw_fs, raw_root = filesystem(cfg.raw_url, raw_opts)
        if not raw_fs.exists(raw_root):
            raise ConvertError(f"raw folder {cfg.raw_url} does not exist; check the path (RAW_URL)")
        duplicates: list[dict[str, Any]] = []
        items = iter_prepared(
            _discover(info, cfg, {**options, "storage_options": raw_opts}), quarantined=duplicates,
            key=key_bytes, salt=cfg.salt, raw_url=cfg.raw_url, fractions=fractions, limit=cfg.limit,
        )
        first = next(items, None)
        if first is None:
            raise ConvertError(f"source {cfg.source} found no samples under {cfg.raw_url}; is this the right folder and source?")
        _prepare_output(cfg, opts)
        if "volume" in info.modalities:
            ensure_group(join(cfg.dataset_url, "volumes.zarr"), opts)
        worklist = write_worklist(itertools.chain([first], items), cfg.batch_size, cfg.dataset_url, opts, key_bytes)
        del first, items
        job = Job(
            source=cfg.source, dataset_url=cfg.dataset_url, options={**options, "storage_options": raw_opts},
            storage_options=opts, key_ref=key_ref, salt=cfg.salt, fractions=fractions, task_names=tuple(sorted(info.tasks)),
            shard_size=cfg.shard_size, config=recorded_config(cfg, options, fractions, key_bytes), run_log=cfg.run_log,
        )
        expected = Expected(items=worklist.items, batches=worklist.batches, key_fingerprint=worklist.key_fingerprint,
                            discovery=_discovery_summary(job, duplicates))
        _run(cfg, job, worklist, expected, opts)
    fs, root = filesystem(cfg.dataset_url, opts)
    if not fs.exists(f"{root}/manifest.json"):
        raise ConvertError(f"the {cfg.runner} runner finished without writing {cfg.dataset_url}/manifest.json; the conversion did not complete")
    return json.loads(fs.cat_file(f"{root}/manifest.json"))


def _discovery_summary(job: Job, quarantined: list[dict[str, Any]]) -> Summary:
    """The driver's own outcomes (duplicate keys, unsafe paths), with their quarantine file under _work/."""
    summary = summarize(quarantined, job.task_names)
    if quarantined:
        fs, root = filesystem(job.dataset_url, job.storage_options)
        path = f"{WORK}/quarantine-discover.jsonl"
        fs.pipe_file(f"{root}/{path}", b"".join(json_bytes(e) + b"\n" for e in quarantined))
        summary.quarantine_files.append(path)
    return summary


def _run(cfg: ConvertConfig, job: Job, worklist: WorkList, expected: Expected, opts: dict[str, Any]) -> None:
    """Run the graph on the configured runner, with the progress bar polling the staging area."""
    stop = threading.Event()
    # polling the staging area lists it every 0.5 s: only worth it when a bar is shown
    watcher = threading.Thread(target=_progress, args=(cfg, opts, worklist.items, stop), daemon=True)
    if cfg.progress:
        watcher.start()
    try:
        if cfg.runner == LOCAL:
            run_local(job, worklist, expected, cfg.workers)
        else:
            _run_beam(cfg, job, worklist, expected)
    except LostWorkError as exc:
        raise ConvertError(str(exc)) from None
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join()


def _run_beam(cfg: ConvertConfig, job: Job, worklist: WorkList, expected: Expected) -> None:
    from climb.pipelines.graph import build

    pipeline, cluster = beam_pipeline(cfg.runner, cfg.beam_options, worklist.batches, cfg.workers, cfg.dask_address)
    try:
        if cfg.runner == DASK:
            # Beam's default for a runner outside the Fn API (Dask) first round-trips the pipeline
            # through its runner-API protos, a self-test that re-pickles every transform: ~0.4 s of
            # each run on a warm 2-worker cluster, with byte-identical output without it
            build(pipeline, job, worklist, expected)
            with dask_bag_shuffle():
                pipeline.run(test_runner_api=False).wait_until_finish()
        else:
            with pipeline as p:  # Beam's context also ends any job-server subprocess a runner started
                build(p, job, worklist, expected)
    except Exception as exc:  # noqa: BLE001 - runners wrap a DoFn's exception in their own
        lost = _lost_work_message(exc)
        if lost:
            raise ConvertError(lost) from None
        raise
    finally:
        if cfg.runner == DASK:
            close_dask(cluster)


def _lost_work_message(exc: BaseException) -> str | None:
    """Finalize's exactly-once failure, found inside whatever exception the runner raised."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, LostWorkError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    marker = "exactly-once check failed:"
    return text[text.index(marker):].splitlines()[0] if marker in text else None


def cli_convert(args) -> int:
    """`climb convert` entry point."""
    from climb.errors import UserError

    key = cli_key(args.hmac_key_file, args.s3_endpoint)
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
        beam_options=list(args.beam_option),
        run_log=args.run_log,
    )
    try:
        get_source(cfg.source, cfg.options)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    try:
        with _quiet_dask_logs(cfg.runner):
            manifest = convert(cfg, key)
    except ConvertError as exc:
        raise UserError(str(exc)) from None
    c = manifest["counts"]
    dataset_url = join(cfg.out_url, manifest["source"])  # a spec file's path gives way to the spec's name
    print(
        f"{dataset_url}: {c['written']} written, {c['quarantined']} quarantined, {c['excluded']} excluded "
        f"of {c['discovered']} discovered; {len(manifest['shards'])} shards; splits "
        + ", ".join(f"{k}={v['num_samples']}" for k, v in manifest["splits"].items())
    )
    if c["quarantined"]:
        print(f"see {dataset_url}/quarantine.jsonl for the reasons (`climb inspect {dataset_url}`)")
    return 0


@contextlib.contextmanager
def _quiet_dask_logs(runner: str) -> Iterator[None]:
    """`climb convert --runner dask` reports through its progress bar and its errors: the INFO lines
    of Dask's scheduler, nannies and client (which log in this process) are left out; warnings stay."""
    if runner != DASK:
        yield
        return
    import distributed  # noqa: F401 - it sets its loggers' levels when first imported

    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def cli_key(key_file: str | None, s3_endpoint: str | None) -> KeyRef:
    """The key reference the workers get: the key file (local path or URL) if given, else $CLIMB_HMAC_KEY."""
    from climb.pipelines.keys import read_key_file
    from climb.transforms.phi import load_key

    if key_file and "://" in key_file:
        opts = storage_options(key_file, s3_endpoint)
        return file_ref(read_key_file(key_file, opts), key_file, opts)
    key = load_key(key_file)
    return file_ref(key, os.path.abspath(key_file)) if key_file else env_ref(key, KEY_ENV)


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
