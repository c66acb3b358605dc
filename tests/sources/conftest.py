"""Dedicated-source corpora (issue 21), each written and converted once per session.

`converted(name)` writes the source's corpus with its climb.corpora writer, converts it with the
default options and returns (raw root, corpus description, manifest, dataset folder), so each test
file asserts on one conversion without paying for it again.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

import pytest

from climb.transforms.phi import DEMO_KEY, pseudonymize
from tests.helpers import convert_demo, located

# source name -> "climb.corpora module:writer"
WRITERS: dict[str, str] = {
    "tuev": "eeg_events:write_tuev_corpus",
    "isruc": "eeg_events:write_isruc_corpus",
    "shhs": "eeg_events:write_shhs_corpus",
    "braingb-abide": "braingb:write_abide_bundle",
    "braingb-abcd": "braingb:write_abcd_bundle",
    "braingb-ppmi": "braingb:write_ppmi_bundle",
    "vindr-mammo": "mammo:write_vindr_mammo_corpus",
    "cmmd": "mammo:write_cmmd_corpus",
    "inspect": "inspect_ctpa:write_inspect_corpus",
    "cholec80": "cholec80:write_cholec80_corpus",
}


def writer(name: str) -> Callable[[Path], dict[str, Any]]:
    module, function = WRITERS[name].split(":")
    return getattr(importlib.import_module(f"climb.corpora.{module}"), function)


def sample_key(source: str, sample_id: str) -> str:
    """The shard key the pipeline gives a raw sample id (demo key)."""
    return pseudonymize(sample_id, DEMO_KEY, f"sample:{source}")


def quarantine_entries(dataset: Path, raw: Path) -> list[tuple[str, dict]]:
    """(raw file relative to raw, quarantine line) per line: keys resolved as `climb inspect --locate` does."""
    return located(dataset, raw)


def splits_by(samples: dict[str, dict[str, Any]], field: str) -> dict[Any, set[str]]:
    """metadata value of `field` -> the set of splits its samples landed in."""
    out: dict[Any, set[str]] = {}
    for sample in samples.values():
        out.setdefault(sample["meta"][field], set()).add(sample["split"])
    return out


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Callable[[str], tuple[Path, dict[str, Any]]]:
    """name -> (raw root, corpus description), written once."""
    cache: dict[str, tuple[Path, dict[str, Any]]] = {}

    def get(name: str) -> tuple[Path, dict[str, Any]]:
        if name not in cache:
            root = tmp_path_factory.mktemp(f"raw-{name}")
            cache[name] = (root, writer(name)(root))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def converted(corpus, tmp_path_factory) -> Callable[[str], tuple[Path, dict, dict, Path]]:
    """name -> (raw root, corpus description, manifest, dataset folder), converted once."""
    cache: dict[str, tuple[Path, dict, dict, Path]] = {}

    def get(name: str) -> tuple[Path, dict, dict, Path]:
        if name not in cache:
            root, description = corpus(name)
            out = tmp_path_factory.mktemp(f"out-{name}")
            manifest = convert_demo(name, root, out)
            cache[name] = (root, description, manifest, out / name)
        return cache[name]

    return get
