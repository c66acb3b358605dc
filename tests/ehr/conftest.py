"""Fixtures for the EHR source: one MIMIC-IV-shaped corpus per module, converted once per mode."""

from pathlib import Path

import pytest

from climb.corpora.ehr import write_mimic_iv_corpus
from climb.transforms.phi import DEMO_KEY, pseudonymize
from tests.helpers import convert_demo, read_samples

SPREAD = {"train": 0.4, "val": 0.3, "test": 0.3}


@pytest.fixture
def key_of():
    """hadm_id -> the sample key a conversion with the demo key gives it."""
    return lambda hadm_id: pseudonymize(str(hadm_id), DEMO_KEY, "sample:mimic-iv")


@pytest.fixture(scope="module")
def mimic_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("mimic-iv")
    return root, write_mimic_iv_corpus(root)


def _convert(root: Path, out: Path, **options) -> tuple[dict, Path]:
    return convert_demo("mimic-iv", root, out, options={"split_fractions": SPREAD, **options}), out / "mimic-iv"


@pytest.fixture(scope="module")
def mimic_converted(mimic_corpus, tmp_path_factory):
    """(manifest, dataset folder, samples by key) of the default conversion (48 h index)."""
    root, _ = mimic_corpus
    manifest, dataset = _convert(root, tmp_path_factory.mktemp("mimic-out"))
    return manifest, dataset, read_samples(dataset)


@pytest.fixture(scope="module")
def mimic_retrospective(mimic_corpus, tmp_path_factory):
    """The same corpus converted with the index at discharge (index_hours null)."""
    root, _ = mimic_corpus
    manifest, dataset = _convert(root, tmp_path_factory.mktemp("mimic-retro"), index_hours=None)
    return manifest, dataset, read_samples(dataset)


@pytest.fixture(scope="module")
def mimic_per_study(mimic_corpus, tmp_path_factory):
    """The same corpus converted with one sample per CXR study."""
    root, _ = mimic_corpus
    manifest, dataset = _convert(root, tmp_path_factory.mktemp("mimic-study"), sample_unit="cxr_study")
    return manifest, dataset, read_samples(dataset)
