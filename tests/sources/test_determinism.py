"""Dedicated sources give byte-identical shards whatever the worker count and batch size."""

from __future__ import annotations

import pytest

from tests.helpers import convert_demo


@pytest.mark.parametrize("name", ["tuev", "cmmd", "braingb-ppmi"])
def test_reconversion_with_other_workers_and_batches_is_byte_identical(corpus, converted, tmp_path, name):
    root, _ = corpus(name)
    _, _, first, _ = converted(name)
    again = convert_demo(name, root, tmp_path, workers=1, batch_size=3)
    assert [(s["path"], s["sha256"]) for s in again["shards"]] == [(s["path"], s["sha256"]) for s in first["shards"]]
    assert again["counts"] == first["counts"]
