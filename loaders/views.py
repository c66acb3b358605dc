"""Resolve a view into the samples it selects: per dataset and split, the chosen positions per shard.

A view (climb.schemas.views) is cut from catalogs, never from shards: each dataset's catalog.parquet
is read (only the columns the expressions need), the expressions evaluated, and the result kept as
sorted sample positions per shard. Loaders then read just those samples through the shards' range
indexes, so a 10% selection reads about 10% of the bytes.

A pinned view records each catalog's sha256; resolving it against a catalog with other bytes fails
(the dataset was rebuilt or its catalog replaced), and so does `climb verify VIEW`.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from climb.schemas.catalog import CATALOG_FILE
from climb.schemas.tasks import TASKS
from climb.schemas.views import View, ViewDataset, ViewError, parse_view, select
from climb.storage import filesystem

LOCATION_COLUMNS = ("key", "dataset", "split", "shard", "sample", "subject_id", "modalities")


def dataset_root(url: str) -> str:
    url = url.rstrip("/")
    return url[: -len("/manifest.json")] if url.endswith("/manifest.json") else url


def is_view_url(url: str) -> bool:
    """A view file (YAML or JSON) rather than a dataset folder or manifest."""
    return url.rstrip("/").endswith((".yaml", ".yml")) or (url.endswith(".json") and not url.endswith("manifest.json"))


def load_view(url: str, storage_options: dict[str, Any] | None = None) -> View:
    """Read and validate a view file (YAML or JSON, local or s3://)."""
    import yaml

    fs, path = filesystem(url, storage_options)
    try:
        text = fs.cat_file(path).decode("utf-8")
    except FileNotFoundError:
        raise ViewError(f"no view file at {url}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ViewError(f"{url} is not valid YAML/JSON: {exc}") from None
    return parse_view(data, origin=url)


def _names(expression: str | None) -> set[str]:
    """Column names an expression refers to (dotted names and col("...") arguments)."""
    if not expression:
        return set()
    names = set()
    for node in ast.walk(ast.parse(expression.strip(), mode="eval")):
        if isinstance(node, ast.Attribute):  # inner prefixes (meta.image of meta.image.view) match nothing
            parts, inner = [], node
            while isinstance(inner, ast.Attribute):
                parts.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name):
                names.add(".".join([inner.id, *reversed(parts)]))
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "col" and node.args:
            names.add(ast.literal_eval(node.args[0]))
    return names


def _catalog_bytes(dataset_url: str, storage_options: dict[str, Any] | None) -> tuple[bytes, str]:
    root = dataset_root(dataset_url)
    fs, path = filesystem(f"{root}/{CATALOG_FILE}", storage_options)
    try:
        raw = fs.cat_file(path)
    except FileNotFoundError:
        raise ViewError(f"{root} has no {CATALOG_FILE}; build it with `climb catalog {root}`") from None
    return raw, hashlib.sha256(raw).hexdigest()


def _parse(raw: bytes, dataset_url: str, columns: set[str] | None) -> pa.Table:
    try:
        schema = pq.read_schema(io.BytesIO(raw))
        wanted = None if columns is None else [c for c in schema.names if c in set(LOCATION_COLUMNS) | columns]
        return pq.read_table(io.BytesIO(raw), columns=wanted)
    except pa.ArrowInvalid as exc:
        raise ViewError(f"{dataset_root(dataset_url)}/{CATALOG_FILE} is not a readable catalog ({exc}); "
                        f"rebuild it with `climb catalog --rebuild {dataset_root(dataset_url)}`") from None


def read_catalog(dataset_url: str, storage_options: dict[str, Any] | None, columns: set[str] | None = None,
                 pinned_sha256: str | None = None) -> tuple[pa.Table, str]:
    """(catalog table, its sha256) of one dataset; only `columns` (plus location ones) when given.

    Raises:
        ViewError: no catalog, an unreadable one, or one whose sha256 is not `pinned_sha256`.
    """
    raw, digest = _catalog_bytes(dataset_url, storage_options)
    if pinned_sha256 and pinned_sha256 != digest:
        raise ViewError(f"the view is stale: {dataset_root(dataset_url)}/{CATALOG_FILE} has sha256 {digest[:12]}..., the "
                        f"view was cut from {pinned_sha256[:12]}...; re-pin it with `climb view VIEW --pin OUT`")
    return _parse(raw, dataset_url, columns), digest


@dataclass(frozen=True)
class Selection:
    """What a view selects in one dataset: catalog rows (table) and their positions per shard."""

    url: str
    weight: float
    catalog_sha256: str
    table: pa.Table  # selected rows only, in catalog order (shard order, then position)

    def positions(self, split: str) -> dict[str, np.ndarray]:
        """shard path -> sorted int64 positions of the selected samples of `split` in that shard."""
        rows = self.table.filter(pc.equal(self.table.column("split"), split))
        out: dict[str, list[int]] = {}
        for shard, sample in zip(rows.column("shard").to_pylist(), rows.column("sample").to_pylist()):
            out.setdefault(shard, []).append(sample)
        return {shard: np.asarray(sorted(v), dtype=np.int64) for shard, v in out.items()}


def resolve(view: View, storage_options: dict[str, Any] | None = None, *, check_pins: bool = True,
            all_columns: bool = False) -> list[Selection]:
    """Evaluate a view against its datasets' catalogs.

    Raises:
        ViewError: a catalog is missing, an expression names an unknown column, or (check_pins) a
            pinned catalog hash differs from the catalog now there (a stale view).
    """
    out = []
    for d in view.datasets:
        if view.holdout_datasets and _dataset_name(d) in view.holdout_datasets:
            continue
        columns = None if all_columns else _names(view.where) | _names(d.where) | {"dataset"}
        table, digest = read_catalog(d.url, storage_options, columns, d.catalog_sha256 if check_pins else None)
        mask = select(table, view.where, d.where)
        out.append(Selection(url=dataset_root(d.url), weight=d.weight, catalog_sha256=digest, table=table.filter(pa.array(mask))))
    return out


def _dataset_name(d: ViewDataset) -> str:
    return dataset_root(d.url).rsplit("/", 1)[-1]


def pinned(view: View, selections: list[Selection]) -> View:
    """The view with each dataset's catalog sha256 recorded (what `climb verify` checks later)."""
    digests = {s.url: s.catalog_sha256 for s in selections}
    datasets = tuple(ViewDataset(d.url, d.where, d.weight, digests.get(dataset_root(d.url), d.catalog_sha256)) for d in view.datasets)
    return View(view.name, datasets, view.where, view.holdout_tasks, view.holdout_datasets)


def stale(view: View, storage_options: dict[str, Any] | None = None) -> list[str]:
    """One line per dataset whose catalog no longer matches the view's pin (empty: the view is current)."""
    problems = []
    for d in view.datasets:
        if d.catalog_sha256 is None:
            problems.append(f"{d.url}: not pinned (pin the view with `climb view VIEW --pin OUT`)")
            continue
        try:
            _, digest = _catalog_bytes(d.url, storage_options)
        except ViewError as exc:
            problems.append(str(exc))
            continue
        if digest != d.catalog_sha256:
            problems.append(f"{d.url}/{CATALOG_FILE}: sha256 {digest[:12]}... but the view was cut from {d.catalog_sha256[:12]}...")
    return problems


def summary(selections: list[Selection]) -> dict[str, Any]:
    """Counts a person checks before training: per dataset, split and label class."""
    out: dict[str, Any] = {}
    for s in selections:
        t = s.table
        per_split = Counter(t.column("split").to_pylist())
        subjects = {split: len(set(t.filter(pc.equal(t.column("split"), split)).column("subject_id").to_pylist()))
                    for split in per_split}
        labels: dict[str, Any] = {}
        for name in t.column_names:
            if not name.startswith("label."):
                continue
            task = TASKS.get(name[len("label."):])
            values = t.column(name).to_pylist()
            if task is None or task.type == "regression":
                known = [v for v in values if v is not None]
                labels[name[6:]] = {"known": len(known)}
            elif task.type == "multilabel":
                labels[name[6:]] = {c: sum(1 for v in values if v is not None and v[i] == 1) for i, c in enumerate(task.classes)}
            else:
                labels[name[6:]] = {c: sum(1 for v in values if v == i) for i, c in enumerate(task.classes)}
                labels[name[6:]]["(masked)"] = sum(1 for v in values if v is None)
        out[s.url] = {"samples": t.num_rows, "splits": {k: {"samples": v, "subjects": subjects[k]} for k, v in sorted(per_split.items())},
                      "weight": s.weight, "catalog_sha256": s.catalog_sha256, "labels": labels}
    return out


def cli_view(args) -> int:
    """`climb view VIEW [--pin OUT] [--json]`: count what a view selects before training on it."""
    from climb.errors import UserError
    from climb.storage import storage_options

    opts = storage_options(args.view_url, args.s3_endpoint)
    try:
        view = load_view(args.view_url, opts)
        selections = resolve(view, opts, all_columns=True)
    except ViewError as exc:
        raise UserError(str(exc)) from None
    counts = summary(selections)
    if args.pin:
        import yaml

        fs, path = filesystem(args.pin, storage_options(args.pin, args.s3_endpoint))
        fs.pipe_file(path, yaml.safe_dump(pinned(view, selections).to_dict(), sort_keys=False).encode())
    if args.json:
        print(json.dumps(counts, indent=2, sort_keys=True))
        return 0
    print(f"view {view.name}: {sum(c['samples'] for c in counts.values())} samples from {len(counts)} dataset(s)")
    for url, c in counts.items():
        splits = ", ".join(f"{k}={v['samples']} ({v['subjects']} subjects)" for k, v in c["splits"].items())
        print(f"  {url}: {c['samples']} samples, weight {c['weight']:g}; {splits or 'nothing selected'}")
        for task, classes in sorted(c["labels"].items()):
            if task in view.holdout_tasks:
                continue
            print(f"    {task}: " + ", ".join(f"{k}={v}" for k, v in classes.items()))
    if args.pin:
        print(f"pinned view written to {args.pin} (records each catalog's sha256; `climb verify {args.pin}` checks it)")
    return 0
