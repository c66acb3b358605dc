"""Converted test datasets for the loader tests, built once per session with the real engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.loaders.synth import convert_corpus, write_corpus


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """121 samples (97 train in ~10 shards: odd, so tails matter on 2 ranks; 24 val), every field
    kind, 2 volumes in Zarr."""
    root = tmp_path_factory.mktemp("loaders")
    return convert_corpus(write_corpus(root / "raw", n=121, volumes=2), root / "out")


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    """A second, smaller dataset (30 samples, no volumes) for mixing."""
    root = tmp_path_factory.mktemp("loaders-small")
    return convert_corpus(write_corpus(root / "raw", n=30, val_every=3, prefix="small"), root / "out", shard_size=60_000)


def split_keys(dataset: Path, split: str) -> list[str]:
    """Every key of a split, from the shards' indexes (in manifest order)."""
    manifest = json.loads((dataset / "manifest.json").read_text())
    keys = []
    for shard in manifest["shards"]:
        if shard["split"] == split:
            keys += [s["key"] for s in json.loads((dataset / shard["index"]).read_text())["samples"]]
    return keys
