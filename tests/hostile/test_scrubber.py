"""The `pixel_scrubber` hook for burned-in text: called on every image and video before encoding."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from climb.transforms.phi import DEMO_KEY
from tests.helpers import convert_demo, read_samples
from tests.hostile.scrubbers import BAND

FILES = ("CT_small.dcm", "MR_small.dcm", "SC_rgb_jpeg_gdcm.dcm")


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("scrub") / "raw"
    root.mkdir()
    for name in FILES:
        shutil.copy(get_testdata_file(name), root / name)
    return root


def images(raw, out, **options) -> tuple[dict, dict[int, np.ndarray]]:
    manifest = convert_demo("dicom", raw, out, options=options)
    found = {}
    for sample in read_samples(out / "dicom").values():
        height, width = sample["meta"]["image"]["original_shape"][:2]
        found[height * 1000 + width] = sample["image"]
    return manifest, found


def test_the_scrubber_blanks_the_band_and_leaves_every_other_pixel(raw, tmp_path):
    _, plain = images(raw, tmp_path / "plain")
    manifest, scrubbed = images(raw, tmp_path / "scrubbed", pixel_scrubber="tests.hostile.scrubbers:blank_top_band")
    assert manifest["counts"]["written"] == len(FILES) and set(scrubbed) == set(plain)
    for shape, image in scrubbed.items():
        rows = image.shape[0] // BAND
        assert not image[:rows].any()
        assert np.array_equal(image[rows:], plain[shape][rows:])
    assert manifest["config"]["options"]["pixel_scrubber"] == "tests.hostile.scrubbers:blank_top_band"


def test_a_scrubber_that_changes_the_shape_quarantines_instead_of_writing(raw, tmp_path):
    manifest = convert_demo("dicom", raw, tmp_path, options={"pixel_scrubber": "tests.hostile.scrubbers:crop"})
    lines = [json.loads(line) for line in (tmp_path / "dicom" / "quarantine.jsonl").read_text().splitlines()]
    assert manifest["counts"]["written"] == 0 and manifest["shards"] == []
    assert {(q["stage"], q["error_type"]) for q in lines} == {("scrub", "ScrubError")} and len(lines) == len(FILES)


def test_reproduce_runs_a_recorded_scrubber_only_when_told_to(raw, tmp_path):
    from climb.pipelines.convert import ConvertError
    from climb.pipelines.reproduce import reproduce

    convert_demo("dicom", raw, tmp_path / "a", options={"pixel_scrubber": "tests.hostile.scrubbers:blank_top_band"})
    with pytest.raises(ConvertError, match="--run-scrubber"):
        reproduce(str(tmp_path / "a" / "dicom"), str(raw), str(tmp_path / "b"), DEMO_KEY)
    assert not (tmp_path / "b").exists()
    results, same_manifest = reproduce(str(tmp_path / "a" / "dicom"), str(raw), str(tmp_path / "c"), DEMO_KEY, run_scrubber=True)
    assert same_manifest and {r.status for r in results} == {"identical"}
