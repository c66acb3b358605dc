"""RAW_URL may be the dataset's folder or the folder directly above it; anything else says which folder to pass."""

from __future__ import annotations

import fsspec
import pytest

from climb.pipelines.sources import SourceError
from climb.pipelines.sources.rawroot import dataset_folder

FS = fsspec.filesystem("file")


def touch(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x\n")


def test_the_folder_holding_the_marker_is_the_dataset_folder(tmp_path):
    touch(tmp_path / "train.csv")
    touch(tmp_path / "copy" / "train.csv")
    assert dataset_folder(FS, str(tmp_path), "train.csv", str(tmp_path)) == str(tmp_path)


def test_the_one_subfolder_holding_the_marker_is_found(tmp_path):
    touch(tmp_path / "CheXpert-v1.0-small" / "train.csv")
    touch(tmp_path / "notes" / "readme.txt")
    assert dataset_folder(FS, str(tmp_path) + "/", "train.csv", str(tmp_path)) == str(tmp_path / "CheXpert-v1.0-small")


def test_a_glob_marker_is_matched_one_level_down(tmp_path):
    touch(tmp_path / "mimic" / "mimic-cxr-2.0.0-split.csv.gz")
    assert dataset_folder(FS, str(tmp_path), "mimic-cxr-*-split.csv*", "raw") == str(tmp_path / "mimic")


def test_several_subfolders_holding_the_marker_are_named(tmp_path):
    touch(tmp_path / "a" / "train.csv")
    touch(tmp_path / "b" / "train.csv")
    with pytest.raises(SourceError, match=r"train.csv is not in s3://bucket/raw but in 2 of its subfolders "
                                          r"\(s3://bucket/raw/a, s3://bucket/raw/b\); pass the one to convert"):
        dataset_folder(FS, str(tmp_path), "train.csv", "s3://bucket/raw/")


def test_a_marker_two_levels_down_is_not_searched_for(tmp_path):
    touch(tmp_path / "a" / "b" / "train.csv")
    with pytest.raises(SourceError, match=r"train.csv not found in raw or in any folder directly below it"):
        dataset_folder(FS, str(tmp_path), "train.csv", "raw")
