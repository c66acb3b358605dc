"""Signal sources read raw trees through fsspec URLs, not only local paths (object storage works the same)."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import numpy as np
import pytest

from climb.pipelines.sources import Excluded, SourceError, get_source


@pytest.fixture
def memory_copy():
    """Copy a local tree into fsspec's in-memory filesystem; returns its memory:// URL."""
    fs = fsspec.filesystem("memory")
    roots = []

    def copy(local: Path) -> str:
        root = f"/climb-test-{uuid.uuid4().hex}"
        roots.append(root)
        for path in sorted(local.rglob("*")):
            if path.is_file():
                fs.pipe(f"{root}/{path.relative_to(local).as_posix()}", path.read_bytes())
        return f"memory://{root}"

    yield copy
    for root in roots:
        fs.rm(root, recursive=True)


def outcomes(source: str, url: str) -> tuple[dict[str, np.ndarray], int, int]:
    info = get_source(source)
    signals, failed, excluded = {}, 0, 0
    for record in info.discover(url, {}):
        try:
            signals[record.sample_id] = info.read(record, {}).arrays["signal"]
        except SourceError:
            failed += 1
        except Excluded:
            excluded += 1
    return signals, failed, excluded


@pytest.mark.parametrize("source, corpus", [("challenge-ecg", "challenge_corpus"), ("tuab", "tuab_corpus")])
def test_a_memory_url_gives_the_same_samples_as_the_local_folder(source, corpus, memory_copy, request):
    root, expected = request.getfixturevalue(corpus)
    remote = outcomes(source, memory_copy(root))
    local = outcomes(source, str(root))
    assert remote[1:] == local[1:] == (expected["counts"]["quarantined"], expected["counts"]["excluded"])
    assert remote[0].keys() == local[0].keys() and len(local[0]) == expected["counts"]["written"]
    for key, signal in local[0].items():
        np.testing.assert_array_equal(remote[0][key], signal)
