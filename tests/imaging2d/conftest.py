"""2D imaging corpora in their real layouts, each written and converted once per test session.

`converted(name)` gives (corpus description, manifest, samples by raw sample id, quarantine rows),
so each test file asserts on one conversion without paying for it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from climb.corpora import imaging2d
from climb.transforms.phi import DEMO_KEY, pseudonymize
from tests.helpers import convert_demo, located, read_samples

WRITERS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "chexpert": imaging2d.write_chexpert_corpus,
    "mimic-cxr": imaging2d.write_mimic_cxr_corpus,
    "vindr-cxr": imaging2d.write_vindr_cxr_corpus,
    "ham10000": imaging2d.write_ham10000_corpus,
    "aptos": imaging2d.write_aptos_corpus,
    "cbis-ddsm": imaging2d.write_cbis_ddsm_corpus,
}


def sample_key(source: str, sample_id: str) -> str:
    """The pseudonymized key the pipeline gives a raw sample id under the demo key."""
    return pseudonymize(sample_id, DEMO_KEY, f"sample:{source}")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Callable[[str], dict[str, Any]]:
    """name -> the corpus description returned by its writer (written once)."""
    cache: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        if name not in cache:
            cache[name] = WRITERS[name](tmp_path_factory.mktemp(f"raw-{name}"))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def converted(corpus, tmp_path_factory) -> Callable[[str], tuple[dict, dict, dict, list]]:
    """name -> (corpus, manifest, samples by raw sample id, quarantine rows as (raw path, line)), converted once."""
    cache: dict[str, tuple] = {}

    def get(name: str) -> tuple[dict, dict, dict, list]:
        if name not in cache:
            raw = corpus(name)
            out = tmp_path_factory.mktemp(f"out-{name}")
            manifest = convert_demo(name, raw["root"], out)
            by_key = read_samples(out / name)
            samples = {sid: by_key[sample_key(name, sid)] for sid in raw["expected"] if sample_key(name, sid) in by_key}
            quarantine = located(out / name, raw["root"])
            cache[name] = (raw, manifest, samples, quarantine)
        return cache[name]

    return get
