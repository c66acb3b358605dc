"""Raw 3D and video corpora in their real layouts, written once per session from shipped real data.

Corpora are read-only inputs; every test converts into its own tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import webdataset as wds

from climb.corpora.imaging3d import write_kits_corpus, write_lndb_corpus, write_rspect_corpus
from climb.corpora.video import write_echonet_corpus, write_video_corpus
from climb.pipelines.convert import ConvertConfig, convert
from climb.transforms.phi import DEMO_KEY
from tests.quarantine import by_file


def _corpus(factory, writer, name: str) -> tuple[Path, dict[str, Any]]:
    root = factory.mktemp(name)
    return root, writer(root)


@pytest.fixture(scope="session")
def kits_corpus(tmp_path_factory):
    return _corpus(tmp_path_factory, write_kits_corpus, "kits")


@pytest.fixture(scope="session")
def lndb_corpus(tmp_path_factory):
    return _corpus(tmp_path_factory, write_lndb_corpus, "lndb")


@pytest.fixture(scope="session")
def rspect_corpus(tmp_path_factory):
    return _corpus(tmp_path_factory, write_rspect_corpus, "rspect")


@pytest.fixture(scope="session")
def echonet_corpus(tmp_path_factory):
    return _corpus(tmp_path_factory, write_echonet_corpus, "echonet")


@pytest.fixture(scope="session")
def video_corpus(tmp_path_factory):
    return _corpus(tmp_path_factory, write_video_corpus, "video")


def run(source: str, raw: Path, out: Path, **options: Any) -> dict[str, Any]:
    return convert(ConvertConfig(source=source, raw_url=str(raw), out_url=str(out), options=options), DEMO_KEY)


def records(dataset: Path) -> list[dict[str, Any]]:
    shards = sorted(str(p) for p in (dataset / "shards").glob("*.tar"))
    return list(wds.WebDataset(shards, shardshuffle=False, empty_check=False))


def quarantine(dataset: Path, raw: Path) -> dict[str, dict[str, Any]]:
    """raw file (relative to raw) -> quarantine line, keys resolved as `climb inspect --locate` does."""
    return by_file(dataset, raw)
