"""Raw 3D and video corpora in their real layouts, written once per session from shipped real data.

Corpora are read-only inputs; every test converts into its own tmp_path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from climb.corpora.imaging3d import write_kits_corpus, write_lndb_corpus, write_rspect_corpus
from climb.corpora.video import write_echonet_corpus, write_video_corpus
from tests.helpers import by_file


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


def quarantine(dataset: Path, raw: Path) -> dict[str, dict[str, Any]]:
    """raw file (relative to raw) -> quarantine line, keys resolved as `climb inspect --locate` does."""
    return by_file(dataset, raw)
