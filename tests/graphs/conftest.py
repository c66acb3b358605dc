"""Fixtures for graph sources: real-layout corpora written once per module, and a shard reader."""

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from climb.corpora.graphs import write_connectome_corpus, write_molecule_corpus


def read_shards(dataset: Path) -> list[dict]:
    """Every sample in a converted dataset: {"key", "split", "meta", "graph" (dict of arrays) ...}."""
    samples: dict[str, dict] = {}
    for shard in sorted((dataset / "shards").glob("*.tar")):
        split = shard.name.split("-")[0]
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, ext = member.name.split(".", 1)
                data = tar.extractfile(member).read()
                sample = samples.setdefault(key, {"key": key, "split": split})
                if ext == "json":
                    sample["meta"] = json.loads(data)
                elif ext.endswith("npz"):
                    with np.load(io.BytesIO(data)) as npz:
                        sample[ext.split(".")[0]] = {k: npz[k] for k in npz.files}
                else:
                    sample[ext] = data
    return list(samples.values())


@pytest.fixture(scope="module")
def connectome_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("abide")
    return root, write_connectome_corpus(root)


@pytest.fixture(scope="module")
def molecule_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("molecules")
    return root, write_molecule_corpus(root)


@pytest.fixture
def shard_samples():
    return read_shards
