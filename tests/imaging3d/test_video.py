"""video: a folder of MP4/AVI clips and DICOM cines with an optional labels CSV."""

import json

import numpy as np
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import pixel_array

from climb.pipelines.sources import get_source
from climb.pipelines.sources.video_io import decode_dicom_cine
from tests.helpers import convert_demo, records

from .conftest import quarantine

LABELLED = {"labels": "labels.csv", "subject_column": "patient", "num_frames": 6}


def read_one(raw, rel, **options):
    info = get_source("video")
    opts = {**info.defaults, **LABELLED, **options}
    record = next(r for r in info.discover(str(raw), opts) if r.sample_id == rel)
    return info.read(record, opts)


@pytest.fixture(scope="module")
def converted(video_corpus, tmp_path_factory):
    raw, expected = video_corpus
    out = tmp_path_factory.mktemp("video-out")
    return convert_demo("video", raw, out, options=LABELLED), out / "video", expected


def test_corpus_converts_with_labels_subjects_and_reasons(converted, video_corpus):
    manifest, dataset, expected = converted
    assert manifest["counts"] == expected["counts"]
    reasons = quarantine(dataset, video_corpus[0])
    assert "OpenCV cannot open" in reasons["clips/p06_broken.mp4"]["message"]
    assert "missing" in reasons["clips/p08_missing.mp4"]["message"]
    metas = [json.loads(r["json"]) for r in records(dataset)]
    assert sorted(m["labels"]["lung_us_finding"] is None for m in metas) == [False] * 5 + [True]  # "other" is masked
    assert all(m["video"]["num_frames"] == 6 for m in metas)


def test_clips_of_one_patient_share_a_split(converted):
    _, dataset, _ = converted
    by_subject = {}
    for rec in records(dataset):
        meta = json.loads(rec["json"])
        by_subject.setdefault(meta["subject_id"], set()).add(meta["split"])
    assert len(by_subject) == 5  # p01 has two clips
    assert all(len(splits) == 1 for splits in by_subject.values())


def test_dicom_cine_frames_are_pydicoms_rgb_at_the_frame_time_rate(video_corpus):
    raw, _ = video_corpus
    frames, fps = decode_dicom_cine(str(raw / "cine" / "p04_cine.dcm"))
    assert frames.shape == (12, 480, 640, 3) and fps == pytest.approx(1000 / 33.333)
    # the corpus cine carries the shipped file's own JPEG frames
    np.testing.assert_array_equal(frames[7], pixel_array(get_testdata_file("color3d_jpeg_baseline.dcm"), index=7))


def test_cine_sampling_keeps_the_clip_duration(video_corpus):
    raw, _ = video_corpus
    sample = read_one(raw, "cine/p04_cine.dcm", num_frames=None, fps=10)
    # 12 frames at 30 fps = 0.4 s; 10 fps keeps frames 0, 3, 6, 9
    assert sample.arrays["video"].shape == (4, 480, 640, 3)
    assert sample.meta["video"]["fps"] == 10.0
    assert sample.labels == {"lung_us_finding": 0}


def test_palette_colour_cine_becomes_8_bit_rgb(video_corpus):
    raw, _ = video_corpus
    sample = read_one(raw, "cine/p05_palette.dcm", num_frames=None)
    video = sample.arrays["video"]
    assert video.dtype == np.uint8 and video.shape == (2, 600, 800, 3)
    assert sample.meta["video"]["fps"] == 30.0  # no timing tags: the frame_rate option


def test_without_a_sheet_every_clip_is_a_sample_without_labels(video_corpus):
    raw, _ = video_corpus
    info = get_source("video")
    found = list(info.discover(str(raw), dict(info.defaults)))
    assert len(found) == 8 and not any(r.options for r in found)
    sample = info.read(next(r for r in found if r.sample_id == "clips/p02_apex.mp4"), dict(info.defaults))
    assert sample.labels == {} and sample.arrays["video"].shape == (10, 120, 160, 3)


def test_a_sheet_task_that_cannot_be_labelled_is_refused_before_decoding(video_corpus):
    raw, _ = video_corpus
    info = get_source("video")
    with pytest.raises(ValueError, match="multilabel"):
        list(info.discover(str(raw), {**info.defaults, **LABELLED, "task": "cxr_findings"}))
    with pytest.raises(KeyError, match="unknown task"):
        list(info.discover(str(raw), {**info.defaults, **LABELLED, "task": "no_such_task"}))


def test_regression_labels_are_numbers_and_unreadable_values_are_masked():
    from climb.pipelines.sources.video import map_label

    assert map_label("lvef", " 55.5 ") == 55.5
    assert map_label("lvef", "n/a") is None
    assert map_label("lung_us_finding", "PNEUMONIA") == 1
