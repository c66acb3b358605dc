"""Fixtures for the EHR source: one MIMIC-IV-shaped corpus per module, converted once per mode."""

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from climb.corpora.ehr import write_mimic_iv_corpus
from climb.pipelines.convert import ConvertConfig, convert
from climb.transforms.phi import DEMO_KEY, pseudonymize

SPREAD = {"train": 0.4, "val": 0.3, "test": 0.3}


def read_samples(dataset: Path) -> dict[str, dict]:
    """Every sample of a converted dataset by key: decoded json, tabular, text, image, signal."""
    import cv2

    samples: dict[str, dict] = {}
    for shard in sorted((dataset / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, ext = member.name.split(".", 1)
                data = tar.extractfile(member).read()
                sample = samples.setdefault(key, {"split": shard.name.split("-")[0]})
                if ext in ("json", "tabular.json"):
                    sample[ext] = json.loads(data)
                elif ext == "text.txt":
                    sample[ext] = data.decode("utf-8")
                elif ext == "image.png":
                    sample[ext] = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
                elif ext == "signal.npy":
                    sample[ext] = np.load(io.BytesIO(data))
    return samples


@pytest.fixture
def key_of():
    """hadm_id -> the sample key a conversion with the demo key gives it."""
    return lambda hadm_id: pseudonymize(str(hadm_id), DEMO_KEY, "sample:mimic-iv")


@pytest.fixture(scope="module")
def mimic_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("mimic-iv")
    return root, write_mimic_iv_corpus(root)


def _convert(root: Path, out: Path, **options) -> tuple[dict, Path]:
    cfg = ConvertConfig(source="mimic-iv", raw_url=str(root), out_url=str(out), options={"split_fractions": SPREAD, **options})
    return convert(cfg, key=DEMO_KEY), out / "mimic-iv"


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
