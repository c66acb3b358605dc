"""The cholec80 source: laparoscopic videos + phase/tool annotations -> RGB frames at 1 fps."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from climb.pipelines.sources import SourceError, cholec80
from climb.pipelines.sources.video_io import decode_video
from climb.schemas.manifest import validate_manifest
from climb.schemas.task_defs.dedicated import CHOLEC80_PHASES
from tests.helpers import as_quarantined, read_samples

from .conftest import quarantine_entries, sample_key


@pytest.fixture(scope="module")
def cholec_run(converted):
    root, description, manifest, dataset = converted("cholec80")
    samples = read_samples(dataset)
    return root, description, manifest, dataset, {sid: samples[sample_key("cholec80", sid)] for sid in description["expected"]}


def test_counts_add_up_and_unannotated_or_short_videos_are_quarantined(cholec_run):
    raw, description, manifest, dataset, _ = cholec_run
    assert validate_manifest(manifest) == []
    assert manifest["counts"] == description["counts"]
    entries = quarantine_entries(dataset, raw)
    assert Counter(path for path, _ in entries) == {p: n for p, (n, _) in description["quarantined"].items()}
    for path, entry in entries:
        assert entry["message"].startswith(as_quarantined(description["quarantined"][path][1], path, "cholec80")), entry["message"]


def test_frames_carry_the_phase_and_tools_of_their_annotation_rows(cholec_run):
    _, description, _, _, samples = cholec_run
    for sample_id, row in description["expected"].items():
        meta = samples[sample_id]["meta"]
        phase = CHOLEC80_PHASES.index(row["phase"]) if row["phase"] in CHOLEC80_PHASES else None
        assert meta["labels"]["surgical_phase"] == phase, sample_id
        assert meta["labels"]["surgical_tools"] == row["tools"], sample_id
        assert meta["label_mask"]["surgical_tools"] == [row["tools"] is not None] * 7
        assert meta["frame"]["index"] == row["frame"] and meta["frame"]["time_s"] == pytest.approx(row["frame"] / 25)


def test_each_sample_is_its_frame_of_the_decoded_video(cholec_run):
    """The seek lands on the annotated frame: equal to decoding the video from the start (size 224
    is turned off so the stored image is the frame itself)."""
    root, description, _, _, _ = cholec_run
    records = {r.sample_id: r for r in cholec80.discover(str(root), {})}
    for sample_id, row in description["expected"].items():
        frames, fps = decode_video(str(root / sample_id.split("#")[0]))
        sample = cholec80.read(records[sample_id], {"size": None})
        np.testing.assert_array_equal(sample.arrays["image"], frames[row["frame"]])
        assert fps == 25


def test_endonet_split_keeps_videos_whole(cholec_run):
    _, description, _, _, samples = cholec_run
    by_video: dict[str, set[str]] = {}
    for sample_id, row in description["expected"].items():
        assert samples[sample_id]["split"] == row["split"], sample_id
        by_video.setdefault(row["video"], set()).add(samples[sample_id]["split"])
    assert all(len(s) == 1 for s in by_video.values())


def test_hash_split_policy_leaves_the_split_to_the_pipeline(corpus):
    root, _ = corpus("cholec80")
    assert {r.official_split for r in cholec80.discover(str(root), {"split_policy": "hash"})} == {None}


def test_annotation_files_without_a_header_or_frame_numbers_are_refused():
    with pytest.raises(SourceError, match="does not start with a Frame header"):
        cholec80.parse_annotation("0\tPreparation\n")
    with pytest.raises(SourceError, match="line 3 has no frame number"):
        cholec80.parse_annotation("Frame\tPhase\n0\tPreparation\nx\tPreparation\n")
