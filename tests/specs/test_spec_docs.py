"""The spec shown in docs/adding-a-source.md runs as written, and its documented error lines are real."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import cv2
import pytest
from skimage import data

from climb.pipelines.sources.spec import SpecError, read_spec
from tests.helpers import convert_demo

PAGE = Path(__file__).resolve().parents[2] / "docs" / "adding-a-source.md"
TEXT = PAGE.read_text(encoding="utf-8")
[YAML] = re.findall(r"^```yaml\n(# eyepacs\.yaml\n.*?)^```", TEXT, flags=re.M | re.S)


def test_the_documented_spec_converts_an_eyepacs_folder_with_both_eyes_in_one_split(tmp_path):
    (tmp_path / "eyepacs.yaml").write_text(YAML)
    raw = tmp_path / "raw"
    (raw / "train").mkdir(parents=True)
    photo = cv2.cvtColor(cv2.resize(data.retina(), (96, 96)), cv2.COLOR_RGB2BGR)
    rows = [("10_left", "2"), ("10_right", "0"), ("13_left", "4"), ("13_right", "9")]
    for image, _ in rows:
        cv2.imwrite(str(raw / "train" / f"{image}.jpeg"), photo)
    with open(raw / "trainLabels.csv", "w", newline="") as f:
        csv.writer(f).writerows([("image", "level"), *rows])
    manifest = convert_demo(str(tmp_path / "eyepacs.yaml"), raw, tmp_path / "out", workers=1)
    assert manifest["source"] == "eyepacs"
    assert manifest["counts"] == {"discovered": 4, "written": 4, "quarantined": 0, "excluded": 0}
    counts = manifest["tasks"]["dr_grade"]["counts"]
    assert {k: v for k, v in counts.items() if v} == {"No DR": 1, "Moderate NPDR": 1, "Proliferative DR": 1}  # grade 9 masked
    assert sum(s["num_subjects"] for s in manifest["splits"].values()) == 2


@pytest.mark.parametrize("mistake, fix", [
    ("column: level", "colum: level"),
    ("'4': Proliferative DR", "'4': PDR"),
])
def test_the_documented_error_lines_are_what_climb_prints(tmp_path, mistake, fix):
    (tmp_path / "eyepacs.yaml").write_text(YAML.replace(mistake, fix))
    with pytest.raises(SpecError) as err:
        read_spec(tmp_path / "eyepacs.yaml")
    documented = [line.removeprefix("climb convert: ") for line in TEXT.splitlines() if line.startswith("climb convert: eyepacs.yaml")]
    assert any(str(err.value).startswith(line.removesuffix("[...]")) for line in documented), str(err.value)


def test_the_dataset_table_names_every_registered_source_and_task_it_claims():
    from climb.pipelines.sources import get_source, is_builtin, source_names

    table = (PAGE.parent / "datasets.md").read_text(encoding="utf-8")
    shipped = [name for name in source_names() if is_builtin(name)]  # not the plug-ins other tests register
    for name in shipped:
        assert f"`{name}`" in table, name
    for name in shipped:
        row = next(line for line in table.splitlines() if line.startswith("|") and f"`{name}`" in line)
        assert all(f"`{task}`" in row for task in get_source(name).tasks), (name, row)
