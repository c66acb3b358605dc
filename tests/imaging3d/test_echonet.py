"""echonet: EchoNet-Dynamic AVIs -> RGB video with EF regression, EF category, EDV/ESV, official splits."""

import json

import cv2
import numpy as np
import pytest

from climb.pipelines.sources import get_source
from climb.pipelines.sources.echonet import ef_category
from tests.helpers import convert_demo, records

from .conftest import quarantine


def cv2_frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    ok, frame = cap.read()
    while ok:
        frames.append(frame[..., ::-1])
        ok, frame = cap.read()
    cap.release()
    return np.stack(frames)


@pytest.mark.parametrize("ef, category", [(39.9, 0), (40.0, 1), (49.9, 1), (50.0, 2), (None, None)])
def test_ef_bins_are_reduced_mildly_reduced_normal(ef, category):
    assert ef_category(ef) == category


def test_corpus_converts_with_official_splits_labels_and_reasons(echonet_corpus, tmp_path):
    raw, expected = echonet_corpus
    manifest = convert_demo("echonet", raw, tmp_path)
    dataset = tmp_path / "echonet"
    assert manifest["counts"] == expected["counts"]
    assert {name: s["num_samples"] for name, s in manifest["splits"].items()} == {"train": 2, "val": 1, "test": 1}
    reasons = quarantine(dataset, raw)
    assert "OpenCV cannot open" in reasons["Videos/0X5E6F708192A3B4C5.avi"]["message"]
    assert "missing" in reasons["Videos/0X6F708192A3B4C5D6.avi"]["message"]
    by_split = {}
    for rec in records(dataset):
        meta = json.loads(rec["json"])
        by_split.setdefault(meta["split"], []).append(meta["labels"])
        assert meta["video"]["fps"] == 50.0 and meta["video"]["num_frames"] == 12
        assert rec["video.mp4"][4:8] == b"ftyp"
    for name, split in expected["splits"].items():
        assert expected["labels"][name] in by_split[split]


def test_frames_equal_opencvs_decode_in_rgb_order(echonet_corpus):
    raw, expected = echonet_corpus
    info = get_source("echonet")
    record = next(r for r in info.discover(str(raw), dict(info.defaults)) if r.sample_id == "0X1A2B3C4D5E6F7081")
    sample = info.read(record, dict(info.defaults))
    np.testing.assert_array_equal(sample.arrays["video"], cv2_frames(raw / "Videos" / "0X1A2B3C4D5E6F7081.avi"))
    # MJPG is lossy, but the decoded clip is still the cine written: mean error of a few grey levels
    assert np.abs(sample.arrays["video"].astype(int) - expected["frames"]["0X1A2B3C4D5E6F7081"]).mean() < 4


def test_frame_count_size_and_gray_options(echonet_corpus):
    raw, _ = echonet_corpus
    info = get_source("echonet")
    record = next(r for r in info.discover(str(raw), dict(info.defaults)) if r.sample_id == "0X2B3C4D5E6F708192")
    sample = info.read(record, {**info.defaults, "num_frames": 4, "size": [64, 96], "color": "gray"})
    assert sample.arrays["video"].shape == (4, 64, 96)
    assert sample.meta["video"] == {"fps": pytest.approx(4 / (12 / 50)), "num_frames": 4, "source_fps": 50.0, "source_num_frames": 12}
