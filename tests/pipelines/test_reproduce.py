"""`climb reproduce` rebuilds a dataset from its manifest and proves the bytes match."""

from __future__ import annotations

import pytest

from climb.cli import main
from climb.pipelines.convert import ConvertConfig, ConvertError, convert
from climb.pipelines.reproduce import reproduce
from climb.transforms.phi import DEMO_KEY, KEY_ENV
from tests.helpers import convert_demo


def test_rebuild_from_the_manifest_is_byte_identical(dicom_corpus, tmp_path):
    cfg = ConvertConfig(source="dicom", raw_url=str(dicom_corpus), out_url=str(tmp_path / "a"), salt="s1", shard_size=30_000,
                        options={"split_fractions": {"train": 0.5, "val": 0.25, "test": 0.25}, "size": 64})
    convert(cfg, DEMO_KEY)
    results, same_manifest = reproduce(str(tmp_path / "a" / "dicom"), str(dicom_corpus), str(tmp_path / "b"), DEMO_KEY)
    assert same_manifest
    assert results and all(r.status == "identical" for r in results)


def test_a_conversion_with_the_compact_png_codec_reproduces_with_it(dicom_corpus, tmp_path):
    convert_demo("dicom", dicom_corpus, tmp_path / "a", options={"png": "compact"})
    results, same_manifest = reproduce(str(tmp_path / "a" / "dicom"), str(dicom_corpus), str(tmp_path / "b"), DEMO_KEY)
    assert same_manifest
    assert results and all(r.status == "identical" for r in results)


def test_reproduce_with_another_key_refuses(dicom_corpus, tmp_path):
    convert_demo("dicom", dicom_corpus, tmp_path / "a")
    with pytest.raises(ConvertError, match="key"):
        reproduce(str(tmp_path / "a" / "dicom"), str(dicom_corpus), str(tmp_path / "b"), b"another-key-of-enough-length")


def test_changed_raw_files_are_reported_as_different(dicom_corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, DEMO_KEY.decode())
    convert_demo("dicom", dicom_corpus, tmp_path / "a")
    victim = next(dicom_corpus.rglob("CT_small.dcm"))
    victim.unlink()
    assert main(["reproduce", str(tmp_path / "a" / "dicom"), str(dicom_corpus), str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "NOT REPRODUCED" in out and "different" in out
