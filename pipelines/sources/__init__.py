"""The source protocol and the registry of sources by name.

A source knows one raw layout. It implements two plain functions, in the spirit of TFDS's
`_split_generators` / `_generate_examples`:

    discover(raw_url, options) -> Iterator[Record]   cheap: list files, read label sheets, no decoding
    read(record, options) -> Sample                  decode one sample and standardize it

Sources never decide splits or keys (the pipeline hashes ids and assigns splits centrally) and never
write files. A source module defines `SOURCE = SourceInfo(...)` (or, serving several names,
`SOURCES = {name: SourceInfo}`) and is listed in `_MODULES` below; modules are imported on first
use so `climb datasets` stays fast and codecs load only when needed.
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from climb.schemas.sample import Record, Sample


class SourceError(Exception):
    """A sample-level failure with a reason meant for the quarantine log."""


class Excluded(Exception):
    """Raised by read() for a sample that is valid but deliberately left out (counted, with a reason)."""


@dataclass(frozen=True)
class SourceInfo:
    """A registered source.

    Args:
        name: the SOURCE argument of `climb convert`.
        description: one line for `climb datasets`.
        modalities: schema fields its samples carry.
        tasks: task names its samples may label.
        discover: raw_url, options -> Iterator[Record].
        read: record, options -> Sample.
        defaults: default options (overridable with --option key=value).
        split_fractions: used when the source has no official split.
        tabular_fields: options -> the names of the tabular member's features, in order (sources
            with a `tabular` field); they are the fields of its declared type.
        labelled_tasks: options -> the tasks a source with no fixed `tasks` labels under these
            options (a folder source whose labels sheet names its task).
    """

    name: str
    description: str
    modalities: tuple[str, ...]
    tasks: tuple[str, ...]
    discover: Callable[[str, dict[str, Any]], Iterator[Record]]
    read: Callable[[Record, dict[str, Any]], Sample]
    defaults: dict[str, Any] = field(default_factory=dict)
    split_fractions: dict[str, float] = field(default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1})
    tabular_fields: Callable[[dict[str, Any]], tuple[str, ...]] | None = None
    labelled_tasks: Callable[[dict[str, Any]], tuple[str, ...]] | None = None

    def __post_init__(self) -> None:
        if "tabular" in self.modalities and self.tabular_fields is None:
            raise ValueError(f"source {self.name!r} has a tabular field: name its features with tabular_fields")


# name -> module path; each module defines SOURCE.
_MODULES: dict[str, str] = {
    "dicom": "climb.pipelines.sources.dicom",
    "nifti": "climb.pipelines.sources.nifti",
    "connectome": "climb.pipelines.sources.connectome",
    "molecules": "climb.pipelines.sources.molecules",
    "proteins": "climb.pipelines.sources.proteins",
    "ogbg-ppa": "climb.pipelines.sources.ogbg_ppa",
    "mimic-iv": "climb.pipelines.sources.mimic_iv",
    "chexpert": "climb.pipelines.sources.chexpert",
    "mimic-cxr": "climb.pipelines.sources.mimic_cxr",
    "vindr-cxr": "climb.pipelines.sources.vindr_cxr",
    "ham10000": "climb.pipelines.sources.ham10000",
    "aptos": "climb.pipelines.sources.aptos",
    "cbis-ddsm": "climb.pipelines.sources.cbis_ddsm",
    "kits": "climb.pipelines.sources.kits",
    "lndb": "climb.pipelines.sources.lndb",
    "rspect": "climb.pipelines.sources.rspect",
    "echonet": "climb.pipelines.sources.echonet",
    "video": "climb.pipelines.sources.video",
    "ptbxl": "climb.pipelines.sources.ptbxl",
    "chapman": "climb.pipelines.sources.chapman",
    "challenge-ecg": "climb.pipelines.sources.challenge_ecg",
    "tuab": "climb.pipelines.sources.tuab",
    "sleep-edf": "climb.pipelines.sources.sleep_edf",
    # dedicated sources of issue 21 (layouts that need code)
    "tuev": "climb.pipelines.sources.tuev",
    "isruc": "climb.pipelines.sources.isruc",
    "shhs": "climb.pipelines.sources.shhs",
    "braingb-abide": "climb.pipelines.sources.braingb",
    "braingb-abcd": "climb.pipelines.sources.braingb",
    "braingb-ppmi": "climb.pipelines.sources.braingb",
    "vindr-mammo": "climb.pipelines.sources.vindr_mammo",
    "cmmd": "climb.pipelines.sources.cmmd",
    "inspect": "climb.pipelines.sources.inspect_ctpa",
    "cholec80": "climb.pipelines.sources.cholec80",
}


# Declarative sources shipped with climb: pipelines/sources/specs/<name>.yaml (package data), one per
# "folder of files plus a label sheet" dataset; pipelines/sources/spec.py reads them.
SPEC_DIR = Path(__file__).parent / "specs"
SPEC_SUFFIXES = (".yaml", ".yml")


def register(name: str, module: str) -> None:
    """Register a source module under a name (for plug-in sources outside this package)."""
    _MODULES[name] = module


def is_builtin(name: str) -> bool:
    """A source that ships with climb (a module of this package or a shipped spec), not a plug-in."""
    return name in spec_names() or _MODULES.get(name, "").startswith(__name__ + ".")


def spec_names() -> list[str]:
    """Names of the shipped spec sources (the file name is the source name)."""
    return sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))


def source_names() -> list[str]:
    return sorted({*_MODULES, *spec_names()})


def get_source(name: str, options: dict[str, Any] | None = None) -> SourceInfo:
    """The source registered under `name`, with a did-you-mean on typos.

    `name` may also be the path of a spec file (`climb convert my.yaml RAW OUT`); and when
    `options` carry a spec (every spec source's options do), the source is rebuilt from it, so a
    worker or `climb reproduce` needs neither the YAML file nor a registration.
    """
    if options and isinstance(options.get("spec"), dict):
        from climb.pipelines.sources.spec import parse
        from climb.pipelines.sources.spec_source import source_info

        info = source_info(parse(options["spec"], f"the spec of {name}"))
        if info.name != name and not name.endswith(SPEC_SUFFIXES):
            raise KeyError(f"the options carry the spec of {info.name!r}, not of {name!r}")
        return info
    if name.endswith(SPEC_SUFFIXES) or name in spec_names() and name not in _MODULES:
        from climb.pipelines.sources.spec import read_spec
        from climb.pipelines.sources.spec_source import source_info

        spec = read_spec(name if name.endswith(SPEC_SUFFIXES) else SPEC_DIR / f"{name}.yaml")
        if not name.endswith(SPEC_SUFFIXES) and spec.name != name:
            raise RuntimeError(f"spec file {name}.yaml names its source {spec.name!r}")
        return source_info(spec)
    if name not in _MODULES:
        close = difflib.get_close_matches(name, source_names(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown source {name!r}{hint} (see `climb datasets`)")
    module = importlib.import_module(_MODULES[name])
    # a module serving several layouts of one family (braingb) maps each name in SOURCES
    info = getattr(module, "SOURCES", {}).get(name) or module.SOURCE
    if info.name != name:
        raise RuntimeError(f"module {_MODULES[name]} registers {info.name!r}, not {name!r}")
    return info
