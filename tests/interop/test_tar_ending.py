"""A shard whose last member is a zip (graph.npz) is still a tar, and nothing else, to its readers."""

from __future__ import annotations

import io
import tarfile
import zipfile

import numpy as np

from climb.pipelines.writers.members import npz_bytes
from climb.pipelines.writers.wds_tar import END_OF_ARCHIVE, make_fragment, write_shard


def shard(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    write_shard([make_fragment("a" * 24, members)], out, "train-00000.tar")
    return out.getvalue()


def test_a_shard_ending_in_an_npz_member_is_not_taken_for_a_zip():
    graph = {"x": np.ones((3, 2), np.float32), "edge_index": np.zeros((2, 1), np.int64)}
    data = shard({"graph.npz": npz_bytes(graph), "a.txt": b"x"})  # members sorted: graph.npz is last
    assert not zipfile.is_zipfile(io.BytesIO(data))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == ["a" * 24 + ".a.txt", "a" * 24 + ".graph.npz"]


def test_a_shard_without_zip_bytes_keeps_the_two_block_end():
    data = shard({"text.txt": b"hello"})
    assert data.endswith(END_OF_ARCHIVE) and len(data) % 512 == 0
    assert len(data) == 512 + 512 + len(END_OF_ARCHIVE)
