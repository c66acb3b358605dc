"""Views: a selection of samples across converted datasets, declared in a small file.

A view names datasets, a filter expression over their catalog columns, mixing weights and hold-outs:

    name: frontal-cxr
    where: split != "test" or known(label.cxr_findings)     # applies to every dataset
    datasets:
      - url: s3://data/vindr-cxr            # a dataset folder or its manifest.json
        where: meta.dicom.ViewPosition in ["PA", "AP"]
        weight: 2
      - url: s3://data/mimic-cxr
    holdout_tasks: [cxr_findings]
    holdout_datasets: []

Expressions are a small, safe subset of Python evaluated column by column on the catalog (nothing is
`eval`ed): column names as dotted names (`meta.image.view`, `label.lvef`, `split`) or `col("any name")`;
literals; `== != < <= > >=`, `in` / `not in` a list, `is None` / `is not None`; `and or not`;
arithmetic `+ - * /`; a class of a list label by name or index (`label.cxr_findings["Cardiomegaly"]`,
`label.ecg_superclass[0]`); and the functions below. Missing values are false in comparisons, so
`meta.age > 60` selects only samples whose age is known.

    known(x)         the label or value is known (a list label: at least one class known)
    positive(x)      a list label has at least one class 1
    has("image")     the sample carries that modality
    subject_any(e)   some sample of the same subject (in the same dataset) satisfies e
    lower(s)         a string column in lower case

This module is pure: it parses and validates views and evaluates expressions on Arrow tables.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from climb.schemas.tasks import TASKS

VIEW_VERSION = "1"


class ViewError(ValueError):
    """A view file or expression that cannot work; the message says where and what to write."""


@dataclass(frozen=True)
class ViewDataset:
    url: str
    where: str | None = None
    weight: float = 1.0
    catalog_sha256: str | None = None


@dataclass(frozen=True)
class View:
    """A parsed view; `catalog_sha256` per dataset is filled in when a view is pinned."""

    name: str
    datasets: tuple[ViewDataset, ...]
    where: str | None = None
    holdout_tasks: tuple[str, ...] = ()
    holdout_datasets: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"view_version": VIEW_VERSION, "name": self.name}
        if self.where:
            out["where"] = self.where
        out["datasets"] = [
            {k: v for k, v in (("url", d.url), ("where", d.where), ("weight", d.weight), ("catalog_sha256", d.catalog_sha256)) if v is not None}
            for d in self.datasets
        ]
        out["holdout_tasks"] = list(self.holdout_tasks)
        out["holdout_datasets"] = list(self.holdout_datasets)
        return out


VIEW_KEYS = {"view_version", "name", "where", "datasets", "holdout_tasks", "holdout_datasets"}
_DATASET_KEYS = {"url", "where", "weight", "catalog_sha256"}


def parse_view(data: Any, origin: str = "view") -> View:
    """Validate a view's parsed YAML/JSON; errors name the field and say what to write."""
    if not isinstance(data, Mapping):
        raise ViewError(f"{origin}: a view is a mapping with `datasets:` (a list of {{url: ...}}), got {type(data).__name__}")
    unknown = set(data) - VIEW_KEYS
    if unknown:
        raise ViewError(f"{origin}: unknown key(s) {sorted(unknown)}; a view has {sorted(VIEW_KEYS)}")
    if str(data.get("view_version", VIEW_VERSION)) != VIEW_VERSION:
        raise ViewError(f"{origin}: view_version {data['view_version']!r} is not supported (this climb reads {VIEW_VERSION})")
    raw = data.get("datasets")
    if not isinstance(raw, list) or not raw:
        raise ViewError(f"{origin}: `datasets` must be a non-empty list of {{url: DATASET_URL}} entries")
    datasets = []
    for i, d in enumerate(raw):
        where = f"{origin}: datasets[{i}]"
        if isinstance(d, str):
            d = {"url": d}
        if not isinstance(d, Mapping) or not isinstance(d.get("url"), str) or not d["url"]:
            raise ViewError(f"{where} needs `url:` (a converted dataset folder or its manifest.json)")
        bad = set(d) - _DATASET_KEYS
        if bad:
            raise ViewError(f"{where}: unknown key(s) {sorted(bad)}; an entry has {sorted(_DATASET_KEYS)}")
        weight = d.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise ViewError(f"{where}: weight must be a positive number, got {weight!r}")
        if d.get("where") is not None:
            compile_expression(d["where"], f"{where}.where")
        datasets.append(ViewDataset(url=d["url"].rstrip("/"), where=d.get("where"), weight=float(weight),
                                    catalog_sha256=d.get("catalog_sha256")))
    urls = [d.url for d in datasets]
    if len(set(urls)) != len(urls):
        raise ViewError(f"{origin}: a dataset is listed twice; combine its filters with `or` in one entry")
    if data.get("where") is not None:
        compile_expression(data["where"], f"{origin}: where")
    lists = {}
    for key in ("holdout_tasks", "holdout_datasets"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ViewError(f"{origin}: `{key}` must be a list of names")
        lists[key] = tuple(value)
    unknown_tasks = [t for t in lists["holdout_tasks"] if t not in TASKS]
    if unknown_tasks:
        raise ViewError(f"{origin}: holdout_tasks names unknown task(s) {unknown_tasks}; see `climb datasets`")
    return View(name=str(data.get("name") or "view"), datasets=tuple(datasets), where=data.get("where"), **lists)


# ------------------------------------------------------------------------------------ expressions

Evaluator = Callable[[pa.Table], Any]

_COMPARE = {ast.Eq: pc.equal, ast.NotEq: pc.not_equal, ast.Lt: pc.less, ast.LtE: pc.less_equal,
            ast.Gt: pc.greater, ast.GtE: pc.greater_equal}
_ARITH = {ast.Add: pc.add, ast.Sub: pc.subtract, ast.Mult: pc.multiply, ast.Div: pc.divide}


def compile_expression(text: str, origin: str = "where") -> Evaluator:
    """Compile a filter expression into a function of a catalog table -> boolean array (one per row)."""
    if not isinstance(text, str) or not text.strip():
        raise ViewError(f"{origin}: an expression must be a non-empty string")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ViewError(f"{origin}: cannot parse {text!r}: {exc.msg}") from None
    inner = _compile(tree.body, origin)

    def evaluate(table: pa.Table) -> pa.Array:
        result = inner(table)
        if isinstance(result, pa.ChunkedArray):
            result = result.combine_chunks()
        if not isinstance(result, pa.Array):
            result = pa.array(np.full(table.num_rows, bool(result.as_py() if isinstance(result, pa.Scalar) else result)))
        if not pa.types.is_boolean(result.type):
            raise ViewError(f"{origin}: {text!r} gives {result.type} values, not true/false; compare it to something")
        return pc.fill_null(result, False)

    return evaluate


def _column_name(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _column(name: str, origin: str) -> Evaluator:
    def get(table: pa.Table) -> pa.ChunkedArray:
        if name not in table.column_names:
            near = [c for c in table.column_names if c.endswith("." + name.split(".")[-1])][:5]
            hint = f"; did you mean {near}?" if near else "; `climb catalog DATASET --columns` lists them"
            raise ViewError(f"{origin}: no catalog column {name!r}{hint}")
        return table.column(name)
    return get


def _literal(node: ast.AST, origin: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ViewError(f"{origin}: expected a literal (number, string, list), got {ast.unparse(node)!r}") from None


def _list_known(column: Any, predicate: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Per row of a list column: does any element satisfy predicate (null lists: false)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_list(column.type):
        return pc.is_valid(column) if predicate is pc.is_valid else pc.fill_null(predicate(column), False)
    values = pc.list_flatten(column)
    parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
    hits = pc.fill_null(predicate(values), False).to_numpy(zero_copy_only=False)
    counts = np.bincount(parents[hits], minlength=len(column)) if len(parents) else np.zeros(len(column), int)
    return pa.array(counts > 0)


def _subject_any(inner: Evaluator) -> Evaluator:
    def evaluate(table: pa.Table) -> pa.Array:
        hit = pc.fill_null(inner(table), False)
        subjects = table.column("dataset").to_numpy(zero_copy_only=False).astype(object) + "\0" + \
            pc.fill_null(table.column("subject_id"), "").to_numpy(zero_copy_only=False).astype(object)
        chosen = set(subjects[np.asarray(hit, dtype=bool)])
        return pa.array([s in chosen for s in subjects])
    return evaluate


def _call(node: ast.Call, origin: str) -> Evaluator:
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if node.keywords or name is None:
        raise ViewError(f"{origin}: {ast.unparse(node)!r}: call one of known, positive, has, subject_any, lower, col")
    if name == "col":
        if len(node.args) != 1 or not isinstance(_literal(node.args[0], origin), str):
            raise ViewError(f"{origin}: col() takes one column name string")
        return _column(_literal(node.args[0], origin), origin)
    if name == "has":
        if len(node.args) != 1 or not isinstance(_literal(node.args[0], origin), str):
            raise ViewError(f"{origin}: has() takes one modality name, e.g. has(\"image\")")
        modality = _literal(node.args[0], origin)
        return lambda t: _list_known(t.column("modalities"), lambda v: pc.equal(v, modality))
    if len(node.args) != 1:
        raise ViewError(f"{origin}: {name}() takes one argument")
    arg = _compile(node.args[0], origin)
    if name == "known":
        return lambda t: _list_known(arg(t), pc.is_valid)
    if name == "positive":
        return lambda t: _list_known(arg(t), lambda v: pc.equal(v, 1))
    if name == "subject_any":
        return _subject_any(arg)
    if name == "lower":
        return lambda t: pc.utf8_lower(arg(t))
    raise ViewError(f"{origin}: unknown function {name}(); use known, positive, has, subject_any, lower or col")


def _subscript(node: ast.Subscript, origin: str) -> Evaluator:
    base = _compile(node.value, origin)
    name = _column_name(node.value) or ""
    index = _literal(node.slice, origin)
    if isinstance(index, str):
        task = TASKS.get(name.removeprefix("label."))
        if task is None or index not in task.classes:
            known = list(task.classes) if task else []
            raise ViewError(f"{origin}: {ast.unparse(node)!r}: no class {index!r}" + (f"; classes are {known}" if known else
                            "; a class name works on label.<task> columns"))
        index = task.classes.index(index)
    if not isinstance(index, int) or isinstance(index, bool):
        raise ViewError(f"{origin}: {ast.unparse(node)!r}: index a list label with a class name or a number")
    return lambda t: pc.list_element(base(t), index)


def _compile(node: ast.AST, origin: str) -> Evaluator:
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, origin) for v in node.values]
        combine = pc.and_kleene if isinstance(node.op, ast.And) else pc.or_kleene

        def boolean(t: pa.Table) -> Any:
            out = parts[0](t)
            for p in parts[1:]:
                out = combine(out, p(t))
            return out
        return boolean
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _compile(node.operand, origin)
        return lambda t: pc.invert(pc.fill_null(inner(t), False))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _compile(node.operand, origin)
        return lambda t: pc.negate(inner(t))
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        left, right, fn = _compile(node.left, origin), _compile(node.right, origin), _ARITH[type(node.op)]
        return lambda t: fn(left(t), right(t))
    if isinstance(node, ast.Compare):
        return _compare(node, origin)
    if isinstance(node, ast.Call):
        return _call(node, origin)
    if isinstance(node, ast.Subscript):
        return _subscript(node, origin)
    if isinstance(node, (ast.Attribute, ast.Name)):
        name = _column_name(node)
        if name is None:
            raise ViewError(f"{origin}: {ast.unparse(node)!r} is not a column name")
        if name in ("True", "False", "None"):
            return lambda t: {"True": True, "False": False, "None": None}[name]
        return _column(name, origin)
    if isinstance(node, ast.Constant):
        value = node.value
        return lambda t: value
    raise ViewError(f"{origin}: {ast.unparse(node)!r} is not allowed in a view expression")


def _compare(node: ast.Compare, origin: str) -> Evaluator:
    steps = []
    left = _compile(node.left, origin)
    for op, right_node in zip(node.ops, node.comparators):
        if isinstance(op, (ast.In, ast.NotIn)):
            values = _literal(right_node, origin)
            if not isinstance(values, (list, tuple, set)):
                raise ViewError(f"{origin}: `in` needs a list, e.g. x in [\"PA\", \"AP\"]")
            steps.append((left, op, values))
        elif isinstance(op, (ast.Is, ast.IsNot)):
            if _literal(right_node, origin) is not None:
                raise ViewError(f"{origin}: use `is None` / `is not None` only; compare values with ==")
            steps.append((left, op, None))
        elif type(op) in _COMPARE:
            steps.append((left, op, _compile(right_node, origin)))
        else:
            raise ViewError(f"{origin}: operator {type(op).__name__} is not allowed")
        left = _compile(right_node, origin) if not isinstance(op, (ast.In, ast.NotIn, ast.Is, ast.IsNot)) else left

    def evaluate(t: pa.Table) -> Any:
        out = None
        for lhs, op, rhs in steps:
            value = lhs(t)
            if isinstance(op, (ast.In, ast.NotIn)):
                hit = pc.is_in(value, value_set=pa.array(list(rhs)))
                part = hit if isinstance(op, ast.In) else pc.and_kleene(pc.invert(hit), pc.is_valid(value))
            elif isinstance(op, ast.Is):
                part = pc.is_null(value)
            elif isinstance(op, ast.IsNot):
                part = pc.is_valid(value)
            else:
                part = _COMPARE[type(op)](value, rhs(t))
            out = part if out is None else pc.and_kleene(out, part)
        return out
    return evaluate


def select(table: pa.Table, *expressions: str | None) -> np.ndarray:
    """Row mask (bool [rows]) of the rows every given expression accepts (None accepts all)."""
    mask = np.ones(table.num_rows, dtype=bool)
    for text in expressions:
        if text:
            mask &= np.asarray(compile_expression(text)(table).to_numpy(zero_copy_only=False), dtype=bool)
    return mask

