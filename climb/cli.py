"""The `climb` command line: argument parsing and error reporting only.

Each command's work lives in the module that owns it (named in COMMANDS) and is imported on use, so
`climb --help` is instant and a command's heavy dependencies load only when it runs. A handler takes
the parsed argparse namespace and returns an exit code. User mistakes raise `UserError` (or a known
storage/key error) and print one line with what to do, exit 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from typing import Callable

from climb.errors import UserError
from climb.version import CODE_VERSION


# command -> (handler "module:function", capability it belongs to)
COMMANDS: dict[str, tuple[str, str]] = {
    "datasets": ("climb.cli:cmd_datasets", "foundation"),
    "convert": ("climb.pipelines.convert:cli_convert", "conversion engine"),
    "inspect": ("climb.report.inspect:cli_inspect", "inspect"),
    "preview": ("climb.report.preview:cli_preview", "preview gallery"),
    "verify": ("climb.pipelines.verify:cli_verify", "conversion engine (verify)"),
    "catalog": ("climb.pipelines.catalog:cli_catalog", "sample catalog"),
    "view": ("climb.loaders.views:cli_view", "views"),
    "reproduce": ("climb.pipelines.reproduce:cli_reproduce", "reproduce"),
    "train": ("climb.trainer.train:cli_train", "reference trainer"),
    "evaluate": ("climb.trainer.evaluate:cli_evaluate", "transfer evaluation"),
    "embed": ("climb.trainer.embed:cli_embed", "embedding export"),
    "s3": ("climb.s3.server:cli_s3", "local S3 server"),
    "demo": ("climb.demo:cli_demo", "demo"),
}


def _size(text: str) -> int:
    """Parse '256MB', '1.5GiB', '4096' into bytes."""
    units = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
    t = text.strip().lower()
    num = t.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = t[len(num):]
    if unit not in units or not num:
        raise argparse.ArgumentTypeError(f"cannot read size {text!r}; write e.g. 256MB, 1GiB or 4096")
    return int(float(num) * units[unit])


def _ints(text: str) -> list[int]:
    """Parse '1,5,10,50' into [1, 5, 10, 50]."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _option(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--option takes key=value, got {text!r}")
    k, v = text.split("=", 1)
    return k.strip(), v.strip()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="climb",
        description=(
            "Turn raw clinical datasets (DICOM, NIfTI, WFDB, EDF, video, CSV label sheets) into one "
            "versioned schema of WebDataset shards + Zarr arrays, verify and reproduce them, and stream "
            "them into PyTorch from local disk or S3."
        ),
        epilog="Start with `climb demo`. Every command has --help.",
    )
    p.add_argument("--version", action="version", version=f"climb {CODE_VERSION}")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("datasets", help="list supported sources, their modalities and tasks",
                   description="List every registered source with its modalities and tasks, then every task.")

    c = sub.add_parser(
        "convert", help="convert a raw dataset into shards + manifest (Apache Beam)",
        description=(
            "Run the Beam pipeline discover -> read -> standardize -> validate -> split -> write for one "
            "source. Output goes to OUT_URL/SOURCE/ (manifest.json is written last). Bad samples are "
            "quarantined with their reason in quarantine.jsonl, never dropped silently."
        ),
    )
    c.add_argument("source", metavar="SOURCE", help="registered source name (see `climb datasets`)")
    c.add_argument("raw_url", metavar="RAW_URL", help="folder or s3:// prefix of the raw dataset")
    c.add_argument("out_url", metavar="OUT_URL", help="output folder or s3:// prefix; SOURCE/ is created inside")
    c.add_argument("--runner", default="direct", metavar="NAME",
                   help="direct (default): the graph's stages on --workers local processes; dask: Beam on "
                   "dask.distributed; FnApiRunner: Beam's in-process runner; any other Beam runner name "
                   "(FlinkRunner, SparkRunner, DataflowRunner ...) with its --beam-option settings (docs/dask.md)")
    c.add_argument("--beam-option", action="append", default=[], metavar="KEY=VALUE",
                   help="Beam pipeline option passed to the runner as --KEY=VALUE, repeatable "
                   "(e.g. flink_master=HOST:8081, direct_num_workers=2)")
    c.add_argument("--run-log", metavar="FILE",
                   help="write where each batch was decoded and each shard written (host:pid) to FILE; not part of the dataset")
    c.add_argument("--dask-address", metavar="A", help="scheduler of a running Dask cluster (tcp://host:8786)")
    c.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="local processes (direct runner) or local Dask workers when no --dask-address "
                   "is given (default: the number of cores)")
    c.add_argument("--shard-size", type=_size, default=_size("256MB"), metavar="SIZE",
                   help="target shard size (default 256MB)")
    c.add_argument("--salt", default="climb", metavar="S", help="salt of the split and order hashes (default climb)")
    c.add_argument("--limit", type=int, metavar="N", help="convert only the first N discovered samples (by key)")
    c.add_argument("--s3-endpoint", metavar="URL", help="S3-compatible endpoint (else $AWS_ENDPOINT_URL or AWS)")
    c.add_argument("--hmac-key-file", metavar="F", help="pseudonymization key file (else $CLIMB_HMAC_KEY)")
    c.add_argument("--option", action="append", type=_option, default=[], metavar="KEY=VALUE",
                   help="conversion option, repeatable: a source's own (see `climb datasets`), the size limits "
                        "(max_file_bytes, max_pixels, max_voxels) or png=fast|compact, the PNG codec (default fast; "
                        "compact: up to 17%% smaller CT and radiograph files at 224 px, about twice the encode time)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing, complete conversion")
    c.add_argument("--batch-size", type=int, default=32, metavar="N",
                   help="samples decoded per Beam element (default 32); larger cuts per-element overhead")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")

    i = sub.add_parser("inspect", help="summarise a converted dataset: counts, splits, labels, quarantine",
                       description="Print counts per split, subjects, label distribution per task, quarantine reasons and shard sizes.")
    i.add_argument("dataset_url", metavar="OUT_URL/SOURCE")
    i.add_argument("--json", action="store_true", help="print the summary as JSON")
    i.add_argument("--s3-endpoint", metavar="URL")
    i.add_argument("--locate", metavar="RAW_URL",
                   help="resolve sample keys to raw files: re-run discovery on RAW_URL with the dataset's HMAC key "
                   "and print key -> raw path for each quarantined sample (or for --key); prints raw names")
    i.add_argument("--key", action="append", default=[], metavar="K", help="a sample key to resolve (repeatable; with --locate)")
    i.add_argument("--hmac-key-file", metavar="F", help="the conversion's key file (else $CLIMB_HMAC_KEY; with --locate)")

    pv = sub.add_parser("preview", help="write a PNG/HTML gallery of samples",
                        description="Render image thumbnails, 12-lead ECG plots, volume slices, video keyframes and label histograms into a static HTML page.")
    pv.add_argument("dataset_url", metavar="OUT_URL/SOURCE")
    pv.add_argument("--out", metavar="DIR", help="gallery folder (default ./climb-preview/SOURCE)")
    pv.add_argument("--per-split", type=int, default=8, metavar="N", help="samples per split (default 8)")
    pv.add_argument("--s3-endpoint", metavar="URL")

    v = sub.add_parser("verify", help="re-hash every shard and Zarr array against the manifest (or check a view)",
                       description="Recompute the sha256 of every file the manifest names; exit 1 naming each mismatch. "
                       "Given a pinned view file instead, check that every catalog it was cut from is unchanged.")
    v.add_argument("dataset_url", metavar="OUT_URL/SOURCE|VIEW")
    v.add_argument("--s3-endpoint", metavar="URL")

    cat = sub.add_parser(
        "catalog", help="build and summarise sample catalogs (one Parquet row per sample)",
        description=(
            "Write OUT_URL/SOURCE/catalog.parquet from a finished dataset's shards (when missing, or always with "
            "--rebuild) and print its rows per split and its columns. A catalog row holds the sample's key, split, "
            "shard and member byte ranges, modalities and stored shapes, one column per task label (null where "
            "masked), pseudonymous subject/study ids and the scalar metadata (meta.*) its source recorded: read it "
            "with pyarrow, pandas or DuckDB without opening a shard, and select samples with `climb view`."
        ),
    )
    cat.add_argument("dataset_urls", nargs="+", metavar="OUT_URL/SOURCE")
    cat.add_argument("--rebuild", action="store_true", help="rebuild the catalog even if one exists")
    cat.add_argument("--columns", action="store_true", help="list every column with its type and how many rows know it")
    cat.add_argument("--json", action="store_true", help="print each summary as one JSON line")
    cat.add_argument("--s3-endpoint", metavar="URL")

    vw = sub.add_parser(
        "view", help="count what a view (a selection across datasets) selects",
        description=(
            "Read a view file (YAML: datasets, a `where` filter over catalog columns, weights, hold-outs; see "
            "docs/views.md), evaluate it on the datasets' catalogs and print what it selects per dataset, split and "
            "label class. --pin writes the view with each catalog's sha256 recorded, so training on it refuses "
            "a catalog that changed and `climb verify PINNED_VIEW` reports it."
        ),
    )
    vw.add_argument("view_url", metavar="VIEW", help="view file (.yaml/.yml/.json), local or s3://")
    vw.add_argument("--pin", metavar="OUT", help="write the view with catalog hashes recorded to OUT")
    vw.add_argument("--json", action="store_true", help="print the counts as JSON")
    vw.add_argument("--s3-endpoint", metavar="URL")

    r = sub.add_parser("reproduce", help="rebuild a dataset from its manifest and compare bytes",
                       description="Re-run the conversion recorded in OUT_URL/SOURCE/manifest.json on RAW_URL into NEW_URL and report identical/different per shard.")
    r.add_argument("dataset_url", metavar="OUT_URL/SOURCE")
    r.add_argument("raw_url", metavar="RAW_URL")
    r.add_argument("new_url", metavar="NEW_URL")
    r.add_argument("--s3-endpoint", metavar="URL")
    r.add_argument("--hmac-key-file", metavar="F")
    r.add_argument("--run-scrubber", action="store_true",
                   help="run the pixel_scrubber function the manifest names (it is code: only for manifests you trust)")

    t = sub.add_parser("train", help="reference encoder/fusion trainer, streaming from manifests",
                       description="Train the reference multimodal model from a YAML/TOML config or manifest URLs.")
    t.add_argument("inputs", nargs="+", metavar="CONFIG_OR_MANIFESTS")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")

    e = sub.add_parser(
        "evaluate", help="linear probe, k-shot and zero-shot transfer of a checkpoint",
        description=(
            "Adapt a pretrained encoder (out_dir/encoders/<modality>.pt of `climb train`) to TASK on the "
            "dataset's train split and score it on its test split: linear probe, k-shot probe and fine-tuning "
            "(shots never share a patient with the test split), zero-shot through the task registry's class "
            "links. Writes results.json, results.md and score_vs_k.png with bootstrap intervals over subjects."
        ),
    )
    e.add_argument("checkpoint", metavar="CHECKPOINT", help="encoder file, e.g. run/encoders/signal.pt")
    e.add_argument("manifest", metavar="MANIFEST", help="converted dataset folder, its manifest.json, or a view file selecting from one dataset (local or s3://)")
    e.add_argument("--task", required=True, metavar="T", help="registry task the dataset labels")
    e.add_argument("--methods", type=lambda t: [m.strip() for m in t.split(",") if m.strip()], metavar="M,...",
                   help="probe, kshot-probe, kshot-finetune, zero-shot (default: all; zero-shot only where classes map)")
    e.add_argument("--k", type=_ints, default=[1, 5, 10, 50], metavar="K,...", help="shots per class (default 1,5,10,50)")
    e.add_argument("--seeds", type=_ints, default=[0, 1, 2], metavar="S,...", help="shot draws / fine-tuning seeds (default 0,1,2)")
    e.add_argument("--small-k-seeds", type=int, default=10, metavar="N",
                   help="at least N seeds for k <= 5, where the shot draw matters most (default 10)")
    e.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="bootstrap replicates over subjects and seeds (default 1000)")
    e.add_argument("--baseline", metavar="ENCODER", help="a second encoder file: same shots, paired bootstrap of the differences")
    e.add_argument("--allow-seen", action="store_true",
                   help="evaluate even on a dataset or task the encoder was pretrained on (otherwise refused)")
    e.add_argument("--out", default="climb-evaluate", metavar="DIR", help="report folder (default ./climb-evaluate)")
    e.add_argument("--train-split", default="train", metavar="S", help="split the probes and shots come from (default train)")
    e.add_argument("--test-split", default="test", metavar="S", help="split that is scored (default test)")
    e.add_argument("--finetune-steps", type=int, default=50, metavar="N", help="AdamW steps of k-shot fine-tuning (default 50)")
    e.add_argument("--lr", type=float, default=3e-4, help="fine-tuning learning rate (default 3e-4)")
    e.add_argument("--l2", type=float, default=1e-3, help="L2 penalty of the linear probes (default 1e-3)")
    e.add_argument("--batch-size", type=int, default=32, metavar="N", help="samples per batch (default 32)")
    e.add_argument("--s3-endpoint", metavar="URL")

    em = sub.add_parser("embed", help="write per-sample embeddings to Parquet",
                        description="One row per sample that has the encoder's modality: key, split, pseudonymized "
                        "subject_id, the embedding and one label column per task, in manifest order.")
    em.add_argument("checkpoint", metavar="CHECKPOINT", help="encoder file, e.g. run/encoders/signal.pt")
    em.add_argument("manifest", metavar="MANIFEST", help="converted dataset folder or its manifest.json (local or s3://)")
    em.add_argument("out", metavar="OUT.parquet")
    em.add_argument("--splits", type=lambda t: [v.strip() for v in t.split(",") if v.strip()], metavar="S,...",
                    help="splits to embed (default: all)")
    em.add_argument("--batch-size", type=int, default=32, metavar="N")
    em.add_argument("--s3-endpoint", metavar="URL")

    s3 = sub.add_parser("s3", help="local S3 server (SeaweedFS) for the demo and tests")
    s3sub = s3.add_subparsers(dest="s3_command", metavar="ACTION")
    serve = s3sub.add_parser("serve", help="start SeaweedFS on loopback and print the endpoint; Ctrl-C stops it")
    serve.add_argument("--dir", metavar="D", help="data folder (default: a temporary folder)")
    serve.add_argument("--port", type=int, default=0, metavar="P", help="S3 port (default: a free port)")

    d = sub.add_parser("demo", help="build a demo corpus from packaged real files, convert, verify, train",
                       description="End to end on real files that ship inside installed packages: no downloads.")
    d.add_argument("--out", default="climb-demo", metavar="DIR", help="where everything goes (default ./climb-demo)")
    d.add_argument("--local", action="store_true", help="no S3 server: convert and train from local disk")
    d.add_argument("--keep-server", action="store_true", help="leave the S3 server running at the end")
    return p


def cmd_datasets(args: argparse.Namespace) -> int:
    from climb.pipelines.sources import get_source, source_names, spec_names
    from climb.schemas.tasks import TASKS

    specs = set(spec_names())
    width = max(14, *(len(name) + 1 for name in source_names()))
    print(f"{'SOURCE':<{width}} {'MODALITIES':<24} TASKS")
    for name in source_names():
        try:
            info = get_source(name)
        except ImportError as exc:
            print(f"{name:<{width}} (unavailable: {exc})")
            continue
        print(f"{name:<{width}} {', '.join(info.modalities):<24} {', '.join(info.tasks) or '-'}")
        print(f"{'':<{width}} {info.description}" + (f" [spec: specs/{name}.yaml]" if name in specs else ""))
    print()
    print(f"{'TASK':<26} {'TYPE':<11} CLASSES")
    for name, task in sorted(TASKS.items()):
        classes = ", ".join(task.classes) if task.classes else f"({task.units or 'value'})"
        print(f"{name:<26} {task.type:<11} {classes}")
    return 0


def _resolve(target: str) -> Callable[[argparse.Namespace], int] | None:
    module, func = target.split(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
            return None
        raise
    return getattr(mod, func, None)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    target, capability = COMMANDS[args.command]
    debug = args.debug or bool(os.environ.get("CLIMB_DEBUG"))
    try:
        handler = _resolve(target)
        if handler is None:
            print(f"climb {args.command}: not available yet; it awaits the {capability} capability.", file=sys.stderr)
            return 3
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `climb datasets | head`: the reader left, which is not an error
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - the one place errors become messages
        if debug:
            traceback.print_exc()
        failure = _storage_failure(exc, mid_run=True)
        if failure:
            print(f"climb {args.command}: {failure}", file=sys.stderr)
            return 1
        storage_hint = _storage_hint(exc)
        if storage_hint:
            print(f"climb {args.command}: {storage_hint}", file=sys.stderr)
            return 2
        failure = _storage_failure(exc, mid_run=False)
        if failure:
            print(f"climb {args.command}: {failure}", file=sys.stderr)
            return 1
        if _is_user_error(exc):
            print(f"climb {args.command}: {exc}", file=sys.stderr)
            return 2
        print(f"climb {args.command}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if not debug:
            print("run again with --debug for the traceback, and report it if it looks like a bug", file=sys.stderr)
        return 1


def _storage_failure(exc: Exception, mid_run: bool) -> str | None:
    """One line for a store that failed mid-run (raw reads, output writes): no sample was blamed.

    With mid_run, only a StorageFailure (raised by a step that had started working: its reason is
    path-free); it goes before the endpoint/credential hints its cause would also match. Without,
    any other store error (a staging or shard write that outlasted s3fs's retries), described by
    type and code only, as its message quotes URLs.
    """
    import re

    from climb.storage import StorageFailure, describe_failure, is_storage_failure

    if mid_run and not isinstance(exc, StorageFailure):
        return None
    if isinstance(exc, StorageFailure):
        reason = re.sub(r" \[while running '[^']*'\]", "", str(exc))  # Beam appends the step's name
    elif isinstance(exc, (FileNotFoundError, PermissionError)) or not is_storage_failure(exc):
        return None  # a missing or forbidden RAW_URL/OUT_URL is the user's to fix (_is_user_error)
    else:
        reason = f"an output write failed: {describe_failure(exc)}"
    return f"storage failed, the run stopped and wrote no manifest: {reason}; rerun when the store is healthy"


def _storage_hint(exc: Exception) -> str | None:
    """One actionable line for object-store failures a user can fix (endpoint, credentials)."""
    try:
        from botocore.exceptions import EndpointConnectionError, NoCredentialsError
    except ImportError:
        return None
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, EndpointConnectionError):
            return (f"cannot reach the S3 endpoint ({exc.kwargs.get('endpoint_url', 'unknown')}): is the server "
                    "running, and are --s3-endpoint / AWS_ENDPOINT_URL right?")
        if isinstance(exc, NoCredentialsError):
            return "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        exc = exc.__cause__ or exc.__context__
    return None


def _is_user_error(exc: Exception) -> bool:
    from climb.storage import StorageError
    from climb.transforms.phi import MissingKeyError

    return isinstance(exc, (UserError, StorageError, MissingKeyError, FileNotFoundError, PermissionError))
