"""Converted datasets of every family and their preview galleries, each built once per session.

The raw corpora are the real-layout writers of climb.corpora (real files shipped in pydicom,
pydicom-data, nibabel and rdkit), converted by the real engine; the galleries are written by
`write_gallery` with the default number of samples per split. Tests treat both as read-only.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

import pytest

from climb.corpora.ecg import write_ptbxl_corpus
from climb.corpora.eeg import write_sleep_edf_corpus
from climb.corpora.ehr import write_mimic_iv_corpus
from climb.corpora.graphs import write_molecule_corpus
from climb.corpora.imaging2d import write_vindr_cxr_corpus
from climb.corpora.imaging3d import write_kits_corpus
from climb.corpora.video import write_echonet_corpus
from climb.report.preview import write_gallery
from tests.helpers import convert_demo

WRITERS: dict[str, Callable[[Path], object]] = {
    "vindr-cxr": write_vindr_cxr_corpus,
    "ptbxl": write_ptbxl_corpus,
    "sleep-edf": write_sleep_edf_corpus,
    "kits": write_kits_corpus,
    "echonet": write_echonet_corpus,
    "molecules": partial(write_molecule_corpus, n_hiv=24, nci=False),
    "mimic-iv": write_mimic_iv_corpus,
}


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Callable[[str], Path]:
    """source name -> OUT_URL/SOURCE of its converted real-layout corpus."""
    built: dict[str, Path] = {}

    def get(source: str) -> Path:
        if source not in built:
            root = tmp_path_factory.mktemp(source)
            WRITERS[source](root / "raw")
            convert_demo(source, root / "raw", root / "out")
            built[source] = root / "out" / source
        return built[source]

    return get


@pytest.fixture(scope="session")
def gallery(dataset, tmp_path_factory) -> Callable[[str], Path]:
    """source name -> the folder of its preview gallery (index.html + png/)."""
    built: dict[str, Path] = {}

    def get(source: str) -> Path:
        if source not in built:
            out = tmp_path_factory.mktemp(f"gallery-{source}")
            write_gallery(str(dataset(source)), out)
            built[source] = out
        return built[source]

    return get
