"""ECG/EEG corpora written once per session in their real layouts, converted once, and their quarantine rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from climb.corpora.ecg import write_challenge_corpus, write_ptbxl_corpus
from climb.corpora.eeg import write_sleep_edf_corpus, write_tuab_corpus
from climb.transforms.phi import DEMO_KEY, pseudonymize
from tests.helpers import by_file, convert_demo


def sample_key(source: str, sample_id: str) -> str:
    """The shard key the pipeline gives a raw sample id (demo key)."""
    return pseudonymize(sample_id, DEMO_KEY, f"sample:{source}")


def quarantine(dataset: Path, raw: Path) -> dict[str, dict]:
    """raw file (relative to raw) -> quarantine entry (one entry per file), keys resolved as --locate does."""
    return by_file(dataset, raw)


@pytest.fixture(scope="session")
def ptbxl_corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("ptbxl")
    return root, write_ptbxl_corpus(root)


@pytest.fixture(scope="session")
def ptbxl_converted(ptbxl_corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ptbxl-out")
    manifest = convert_demo("ptbxl", ptbxl_corpus[0], out)
    return out / "ptbxl", manifest


@pytest.fixture(scope="session")
def challenge_corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("challenge")
    return root, write_challenge_corpus(root)


@pytest.fixture(scope="session")
def challenge_converted(challenge_corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("challenge-out")
    manifest = convert_demo("challenge-ecg", challenge_corpus[0], out)
    return out / "challenge-ecg", manifest


@pytest.fixture(scope="session")
def tuab_corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("tuab")
    return root, write_tuab_corpus(root)


@pytest.fixture(scope="session")
def tuab_converted(tuab_corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tuab-out")
    manifest = convert_demo("tuab", tuab_corpus[0], out)
    return out / "tuab", manifest


@pytest.fixture(scope="session")
def sleep_corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sleep-edf")
    return root, write_sleep_edf_corpus(root)


@pytest.fixture(scope="session")
def sleep_converted(sleep_corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sleep-edf-out")
    manifest = convert_demo("sleep-edf", sleep_corpus[0], out)
    return out / "sleep-edf", manifest
