"""Declarative sources: a small YAML spec describes "a folder of files plus a label sheet".

Most clinical image and video sets are files in folders plus a CSV naming each file's labels. A spec
says where the files are (globs relative to RAW_URL, fields cut from their paths by a regex), which
sheet describes them and how its rows join the files, which columns give the subject, the grouping
key, the labels (mapped into registered tasks) and the official split, and how to standardize the
pixels. `load_spec` validates it and turns it into a `SourceInfo` that the pipeline runs like any
Python source (pipelines/sources/spec_source.py holds its discover and read).

Validation is a small dataclass reader instead of JSON Schema: every mistake is reported as
`<spec>: <field path>: <problem>; <what to write>`, with a did-you-mean for misspelt keys.

The validated mapping travels in the source options (`options["spec"]`), so workers on another
machine, the manifest's recorded config and `climb reproduce` all see the exact spec that built
the data, without reading the YAML file again.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from climb.errors import UserError
from climb.schemas.tasks import Task, get_task, norm_code
from climb.transforms.splits import SPLIT_NAMES, check_fractions

MODALITY_EXTENSIONS = {
    "image": (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom"),
    "video": (".mp4", ".avi", ".mov", ".mkv", ".dcm"),
    "volume": (".nii", ".nii.gz"),
}
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
HASH = "hash"  # split value: the sample's split is drawn by the subject-grouped hash


class SpecError(UserError, ValueError):
    """A spec that cannot be used; the message names the field and what to write."""


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans only: `yes`/`no`/`on`/`off` stay strings (class folders are named `yes` and `no`)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def norm_value(value: Any) -> str:
    """A sheet value or map key for matching: trimmed, case-folded, integral numbers without `.0` or zeros."""
    text = norm_code(value)
    if re.fullmatch(r"[+-]?\d+(\.0*)?", text):
        return str(int(float(text)))
    return text


@dataclass(frozen=True)
class Sheet:
    path: str
    key: tuple[str, ...]
    file_key: tuple[str, ...]
    delimiter: str | None = None
    describes: str = "files"


@dataclass(frozen=True)
class Join:
    path: str
    key: tuple[str, ...]
    delimiter: str | None = None


@dataclass(frozen=True)
class Label:
    task: str
    column: tuple[str, ...] = ()
    one_hot: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()
    separator: str | None = None
    map: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = ()
    range: tuple[float, float] | None = None

    def fields(self) -> tuple[str, ...]:
        """Columns/fields this label reads."""
        if self.column:
            return self.column
        return self.one_hot or tuple(column for _, column in self.columns)


@dataclass(frozen=True)
class Split:
    field: str | None = None
    values: tuple[tuple[str, str], ...] = ()
    lists: tuple[tuple[str, str], ...] = ()
    fractions: tuple[tuple[str, float], ...] = (("train", 0.8), ("val", 0.1), ("test", 0.1))


@dataclass(frozen=True)
class Spec:
    """A validated spec; `mapping` is the JSON-able form it was read from."""

    name: str
    description: str
    modality: str
    globs: tuple[str, ...]
    exclude: tuple[str, ...]
    path_fields: str | None
    sheet: Sheet | None
    joins: tuple[Join, ...]
    subject: str | None
    group: str | None
    labels: tuple[Label, ...]
    split: Split
    options: dict[str, Any] = field(default_factory=dict)
    mapping: dict[str, Any] = field(default_factory=dict)

    def task(self, label: Label) -> Task:
        """The registered task with this spec's map as its source map (validated by Task itself)."""
        return _task_with_map(self.name, label.task, label.map)


@lru_cache(maxsize=256)
def _task_with_map(source: str, name: str, table: tuple[tuple[str, tuple[str, ...]], ...]) -> Task:
    task = get_task(name)
    mapping = {code: targets for code, targets in table} if table else {c: (c,) for c in task.classes}
    return replace(task, source_maps={source: mapping})


class _Section:
    """Reads one mapping of the spec, remembering its path for messages, and refuses unknown keys."""

    def __init__(self, data: Any, where: str, origin: str, keys: tuple[str, ...]):
        self.where, self.origin = where, origin
        if not isinstance(data, dict):
            self.fail("", f"must be a mapping (key: value lines), got {type(data).__name__}", "indent its keys under it")
        self.data = {str(k): v for k, v in data.items()}
        # a misspelt key explains the rest ("column is missing"), so unknown keys are reported first
        for key in self.data:
            if key not in keys:
                close = difflib.get_close_matches(key, keys, n=1)
                hint = f"did you mean {close[0]!r}?" if close else "allowed keys: " + ", ".join(sorted(keys))
                self.fail(key, "is not a spec key", hint)

    def fail(self, key: str, problem: str, hint: str) -> None:
        path = f"{self.where}.{key}" if self.where and key else (self.where or key)
        raise SpecError(f"{self.origin}: {path}: {problem}; {hint}")

    def get(self, key: str, kinds: tuple[type, ...], hint: str, *, required: bool = False, default: Any = None) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                self.fail(key, "is required", hint)
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            self.fail(key, f"has the wrong type ({type(value).__name__})", hint)
        return value

    def names(self, key: str, hint: str, *, required: bool = False) -> tuple[str, ...]:
        """One string or a list of strings."""
        value = self.get(key, (str, list), hint, required=required, default=[])
        values = [value] if isinstance(value, str) else value
        if any(not isinstance(v, (str, int)) or isinstance(v, bool) for v in values):
            self.fail(key, "must hold strings", hint)
        return tuple(str(v) for v in values)

    def table(self, key: str, hint: str) -> dict[str, Any]:
        value = self.get(key, (dict,), hint, default={})
        return {str(k): v for k, v in value.items()}



def _regex(section: _Section, key: str, hint: str) -> str | None:
    pattern = section.get(key, (str,), hint)
    if pattern is None:
        return None
    try:
        re.compile(pattern)
    except re.error as exc:
        section.fail(key, f"is not a valid regular expression ({exc})", hint)
    return pattern


def _sheet(data: Any, origin: str) -> tuple[Sheet, tuple[Join, ...]]:
    s = _Section(data, "sheet", origin, ("path", "key", "file_key", "delimiter", "describes", "join"))
    path = s.get("path", (str,), "write the sheet's path relative to RAW_URL, e.g. `path: labels.csv`", required=True)
    if path.lower().endswith((".xlsx", ".xls")):
        s.fail("path", "Excel sheets are not read", "save the sheet as CSV and name the .csv file")
    key = s.names("key", "write the sheet column(s) naming each file, e.g. `key: image_id`", required=True)
    file_key = s.names("file_key", "write the file field(s) matched with `key`: stem, name, path, parent or a group of files.fields")
    delimiter = s.get("delimiter", (str,), "write one character, e.g. `delimiter: ';'`")
    if delimiter is not None and len(delimiter) != 1:
        s.fail("delimiter", f"must be one character, got {delimiter!r}", "e.g. `delimiter: ';'`")
    describes = s.get("describes", (str,), "write `files` (one row per file) or `groups` (one row per subject)", default="files")
    if describes not in ("files", "groups"):
        s.fail("describes", f"must be files or groups, got {describes!r}", "`files`: each row is one sample; `groups`: rows describe several files")
    joins = []
    for i, item in enumerate(s.get("join", (list,), "write a list of {path, key} sheets joined on `key`", default=[])):
        j = _Section(item, f"sheet.join[{i}]", origin, ("path", "key", "delimiter"))
        jpath = j.get("path", (str,), "write the joined sheet's path relative to RAW_URL", required=True)
        jkey = j.names("key", "write the column(s) holding the main sheet's key values", required=True)
        if len(jkey) != len(key):
            j.fail("key", f"names {len(jkey)} column(s) but sheet.key names {len(key)}", "give one column per sheet.key column")
        jdelim = j.get("delimiter", (str,), "write one character")
        joins.append(Join(jpath, jkey, jdelim))
    file_key = file_key or ("stem",)
    if len(file_key) != len(key):
        s.fail("file_key", f"names {len(file_key)} field(s) but key names {len(key)}", "give one file field per key column")
    return Sheet(path, key, file_key, delimiter, describes), tuple(joins)


def _label(data: Any, where: str, origin: str) -> Label:
    s = _Section(data, where, origin, ("task", "column", "one_hot", "columns", "separator", "map", "exclude", "range"))
    name = s.get("task", (str,), "write a registered task name (see `climb datasets`)", required=True)
    try:
        task = get_task(name)
    except KeyError as exc:
        s.fail("task", str(exc.args[0]), "define the task in schemas/task_defs/ or pick a registered one")
    column = s.names("column", "write the column or file field holding the raw label (several: their values joined by '/')")
    one_hot = s.names("one_hot", "write the list of 0/1 columns, one per raw class")
    columns = s.table("columns", "write `class name: column` pairs, one per class of a multilabel task")
    chosen = [k for k, v in (("column", column), ("one_hot", one_hot), ("columns", columns)) if v]
    if len(chosen) != 1:
        s.fail("", f"needs exactly one of column, one_hot, columns (found {chosen or 'none'})",
               "`column` for a label cell, `one_hot` for 0/1 columns naming the class, `columns` for multilabel 0/1 columns")
    if columns:
        if task.type != "multilabel":
            s.fail("columns", f"is for multilabel tasks; {name} is {task.type}", "use `column` or `one_hot`")
        for cls in columns:
            if norm_code(cls) not in {norm_code(c) for c in task.classes}:
                s.fail("columns", f"{cls!r} is not a class of {name}", f"classes are {list(task.classes)}")
    separator = s.get("separator", (str,), "write the string between several labels in one cell, e.g. `separator: '|'`")
    raw_map = s.table("map", "write `raw value: class name` pairs (a list of class names for a multilabel task)")
    table = []
    for code, target in raw_map.items():
        targets = (target,) if isinstance(target, str) else target
        if not isinstance(targets, (list, tuple)) or not all(isinstance(t, str) for t in targets):
            s.fail(f"map.{code}", f"must be a class name or a list of them, got {target!r}", f"classes are {list(task.classes)}")
        table.append((norm_value(code), tuple(targets)))
    if table and task.type == "regression":
        s.fail("map", f"{name} is a regression task: its values are read as numbers", "remove the map")
    exclude = tuple(norm_value(v) for v in s.names("exclude", "write the raw values whose samples are left out, e.g. `[other]`"))
    bounds = s.get("range", (list,), "write `[low, high]`: values outside are masked")
    if bounds is not None and (len(bounds) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)):
        s.fail("range", f"must be two numbers, got {bounds!r}", "write `[low, high]`")
    label = Label(name, column, one_hot, tuple(columns.items()), separator, tuple(table), exclude,
                  None if bounds is None else (float(bounds[0]), float(bounds[1])))
    try:
        _task_with_map(origin, name, label.map)
    except ValueError as exc:
        s.fail("map", str(exc).split(": ", 1)[-1], f"classes of {name} are {list(task.classes)}")
    return label


def _split(data: Any, origin: str) -> Split:
    s = _Section(data, "split", origin, ("field", "values", "lists", "fractions"))
    field_name = s.get("field", (str,), "write the column or file field holding the official split")
    values = s.table("values", f"write `raw value: split` pairs, split one of {', '.join(SPLIT_NAMES)} or {HASH}")
    lists = s.table("lists", "write `split: list file` pairs; a list file holds one `field` value per line")
    fractions = s.table("fractions", "write `train: 0.8` style pairs summing to 1")
    for raw, target in [*values.items(), *((k, k) for k in lists)]:
        if target not in (*SPLIT_NAMES, HASH):
            s.fail("values" if raw in values else "lists", f"{target!r} is not a split", f"use one of {', '.join(SPLIT_NAMES)} or {HASH}")
    if (values or lists) and not field_name:
        s.fail("field", "is required with values or lists", "write the column or file field to look up")
    if values and lists:
        s.fail("lists", "cannot be combined with values", "use one of them")
    if any(not isinstance(v, str) for v in lists.values()):
        s.fail("lists", "must map splits to file paths", "e.g. `test: test_list.txt`")
    if fractions:
        bad = [k for k in fractions if k not in SPLIT_NAMES]
        if bad:
            s.fail("fractions", f"{bad} are not splits", f"use {', '.join(SPLIT_NAMES)}")
        try:
            check_fractions(fractions)
        except ValueError as exc:
            s.fail("fractions", str(exc), "write non-negative numbers summing to 1")
    return Split(field_name, tuple((norm_value(k), v) for k, v in values.items()), tuple(lists.items()),
                 tuple((k, float(v)) for k, v in fractions.items()) if fractions else Split.fractions)


_OPTION_KEYS = {
    "image": {"size": (int, type(None)), "color": str, "out_dtype": str, "clahe": (int, float, type(None)), "window": (str, type(None))},
    "video": {"num_frames": (int, type(None)), "fps": (int, float, type(None)), "size": (int, list, type(None)), "color": str},
    "volume": {"dtype": str},
}
_OPTION_CHOICES = {"color": ("rgb", "gray"), "out_dtype": ("uint8", "uint16"), "dtype": ("float32", "int16")}


def _options(data: Any, modality: str, origin: str) -> dict[str, Any]:
    s = _Section(data or {}, modality, origin, tuple(_OPTION_KEYS[modality]))
    out = {}
    for key, kinds in _OPTION_KEYS[modality].items():
        if key in s.data:
            value = s.get(key, kinds if isinstance(kinds, tuple) else (kinds,), f"see docs/adding-a-source.md for {modality} options")
            if key in _OPTION_CHOICES and value not in _OPTION_CHOICES[key]:
                s.fail(key, f"must be one of {_OPTION_CHOICES[key]}, got {value!r}", f"e.g. `{key}: {_OPTION_CHOICES[key][0]}`")
            out[key] = value
    return out


def _json_able(value: Any, where: str, origin: str) -> Any:
    """YAML may hold dates, sets or non-string keys; the spec travels as JSON, so refuse or convert them."""
    if isinstance(value, dict):
        return {str(k): _json_able(v, f"{where}.{k}", origin) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_able(v, f"{where}[{i}]", origin) for i, v in enumerate(value)]
    if value is None or isinstance(value, (str, bool, int)) or isinstance(value, float) and math.isfinite(value):
        return value
    raise SpecError(f"{origin}: {where.lstrip('.')}: {value!r} is a {type(value).__name__}; quote it to make it a string")


def parse(mapping: Any, origin: str = "spec") -> Spec:
    """Validate a spec mapping (as read from YAML) and return the Spec; SpecError names the first mistake."""
    data = _json_able(mapping, "", origin)
    s = _Section(data, "", origin, ("name", "description", "modality", "files", "sheet", "subject", "group", "labels",
                                    "split", *MODALITY_EXTENSIONS))
    name = s.get("name", (str,), "write the source name, e.g. `name: isic2019`", required=True)
    if not NAME_PATTERN.match(name):
        s.fail("name", f"{name!r} is not a source name", "use lowercase letters, digits and '-', e.g. `isic2019`")
    description = s.get("description", (str,), "write one line for `climb datasets`", required=True)
    modality = s.get("modality", (str,), f"write one of {', '.join(MODALITY_EXTENSIONS)}", required=True)
    if modality not in MODALITY_EXTENSIONS:
        s.fail("modality", f"{modality!r} is not supported", f"write one of {', '.join(MODALITY_EXTENSIONS)}")
    f = _Section(s.get("files", (dict,), "write `files: {glob: ...}`", required=True), "files", origin, ("glob", "exclude", "fields"))
    globs = f.names("glob", "write glob(s) relative to RAW_URL, e.g. `images/**/*.jpg`", required=True)
    exclude = f.names("exclude", "write glob(s) of files that are not samples, e.g. `'**/*_mask*.png'`")
    path_fields = _regex(f, "fields", "write a regex with named groups, e.g. `'(?P<label>[^/]+)/[^/]+$'`")
    sheet, joins = (None, ())
    if s.get("sheet", (dict,), "write `sheet: {path: ..., key: ...}`") is not None:
        sheet, joins = _sheet(s.data["sheet"], origin)
    subject = s.get("subject", (str,), "write the column or file field naming the patient")
    group = s.get("group", (str,), "write the column or file field the split is grouped by (a lesion, an exam)")
    raw_labels = s.get("labels", (list,), "write a list of {task, column|one_hot|columns, map}", required=True)
    if not raw_labels:
        s.fail("labels", "is empty", "label at least one registered task")
    labels = tuple(_label(item, f"labels[{i}]", origin) for i, item in enumerate(raw_labels))
    tasks = [label.task for label in labels]
    if len(set(tasks)) != len(tasks):
        s.fail("labels", f"labels a task twice ({tasks})", "give each task one entry")
    split = _split(s.get("split", (dict,), "write `split: {field, values, fractions}`", default={}), origin)
    options = {}
    for other in MODALITY_EXTENSIONS:
        block = s.get(other, (dict,), f"write the {other} options as a mapping")
        if block is not None and other != modality:
            s.fail(other, f"options for {other} in a {modality} spec", f"write `{modality}:` instead")
        if other == modality:
            options = _options(block, modality, origin)
    _check_fields(path_fields, sheet, joins, subject, group, labels, split, origin)
    return Spec(name, description, modality, globs, exclude, path_fields, sheet, joins, subject, group, labels, split,
                options, data)


def _check_fields(path_fields, sheet, joins, subject, group, labels, split, origin) -> None:
    """Without a sheet, every field must come from the path: catch a misspelt group name now, not per sample."""
    if sheet is not None:
        return
    known = {"path", "name", "stem", "parent", *(re.compile(path_fields).groupindex if path_fields else ())}
    used = [("subject", subject), ("group", group), ("split.field", split.field)]
    used += [(f"labels[{i}]", f) for i, label in enumerate(labels) for f in label.fields()]
    for where, value in used:
        if value and value not in known:
            raise SpecError(f"{origin}: {where}: no sheet, and {value!r} is not a file field; "
                            f"file fields are {sorted(known)} (add a named group to files.fields)")


def read_spec(path: str | Path) -> Spec:
    """Load and validate a spec file (YAML)."""
    path = Path(path)
    try:
        mapping = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except FileNotFoundError:
        raise SpecError(f"spec file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path.name}: not valid YAML: {exc}".replace("\n", " ")) from None
    return parse(mapping, path.name)


@lru_cache(maxsize=32)
def _parse_json(text: str) -> Spec:
    return parse(json.loads(text))


def spec_of(options: dict[str, Any]) -> Spec:
    """The Spec carried in a source's options (parsed once per process)."""
    return _parse_json(json.dumps(options["spec"], sort_keys=True))
