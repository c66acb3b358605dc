"""ECG/EEG corpora written once per session in their real layouts, converted once, and a shard reader."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from climb.corpora.ecg import write_challenge_corpus, write_ptbxl_corpus
from climb.corpora.eeg import write_sleep_edf_corpus, write_tuab_corpus
from climb.pipelines.convert import ConvertConfig, convert
from climb.transforms.phi import DEMO_KEY, pseudonymize
from tests.quarantine import by_file


def sample_key(source: str, sample_id: str) -> str:
    """The shard key the pipeline gives a raw sample id (demo key)."""
    return pseudonymize(sample_id, DEMO_KEY, f"sample:{source}")


def read_shards(dataset: Path) -> dict[str, dict]:
    """key -> {"split", "meta", "signal", "raw": every member's bytes} for a converted dataset."""
    samples: dict[str, dict] = {}
    for shard in sorted((dataset / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, ext = member.name.split(".", 1)
                data = tar.extractfile(member).read()
                sample = samples.setdefault(key, {"split": shard.name.split("-")[0], "raw": {}})
                sample["raw"][ext] = data
                if ext == "json":
                    sample["meta"] = json.loads(data)
                elif ext == "signal.npy":
                    sample["signal"] = np.load(io.BytesIO(data))
    return samples


def quarantine(dataset: Path, raw: Path) -> dict[str, dict]:
    """raw file (relative to raw) -> quarantine entry (one entry per file), keys resolved as --locate does."""
    return by_file(dataset, raw)


def run(source: str, raw: Path, out: Path, **options) -> dict:
    return convert(ConvertConfig(source=source, raw_url=str(raw), out_url=str(out), options=options), DEMO_KEY)


@pytest.fixture(scope="session")
def ptbxl_corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("ptbxl")
    return root, write_ptbxl_corpus(root)


@pytest.fixture(scope="session")
def ptbxl_converted(ptbxl_corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ptbxl-out")
    manifest = run("ptbxl", ptbxl_corpus[0], out)
    return out / "ptbxl", manifest


@pytest.fixture(scope="session")
def challenge_corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("challenge")
    return root, write_challenge_corpus(root)


@pytest.fixture(scope="session")
def challenge_converted(challenge_corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("challenge-out")
    manifest = run("challenge-ecg", challenge_corpus[0], out)
    return out / "challenge-ecg", manifest


@pytest.fixture(scope="session")
def tuab_corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("tuab")
    return root, write_tuab_corpus(root)


@pytest.fixture(scope="session")
def tuab_converted(tuab_corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tuab-out")
    manifest = run("tuab", tuab_corpus[0], out)
    return out / "tuab", manifest


@pytest.fixture(scope="session")
def sleep_corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sleep-edf")
    return root, write_sleep_edf_corpus(root)


@pytest.fixture(scope="session")
def sleep_converted(sleep_corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sleep-edf-out")
    manifest = run("sleep-edf", sleep_corpus[0], out)
    return out / "sleep-edf", manifest
