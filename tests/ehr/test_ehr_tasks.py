"""EHR task definitions: ICD chapters for both ICD versions, mortality never inverted."""

import pytest

from climb.schemas.task_defs.ehr import ICD_CHAPTERS, icd_chapter
from climb.schemas.tasks import get_task


@pytest.mark.parametrize(
    "code, version, chapter",
    [
        ("4280", 9, "IX"), ("428.0", "9", "IX"), ("I509", 10, "IX"), ("I50.9", "10", "IX"),
        ("0389", 9, "I"), ("A419", 10, "I"),
        ("2791", 9, "III"), ("2780", 9, "IV"), ("D649", 10, "III"), ("D489", 10, "II"),
        ("36501", 9, "VII"), ("3899", 9, "VIII"), ("H401", 10, "VII"), ("H6590", 10, "VIII"),
        ("V4581", 9, "XXI"), ("Z87891", 10, "XXI"), ("E8798", 9, "XX"), ("W19XXXA", 10, "XX"),
        ("99591", 9, "XIX"), ("T814XXA", 10, "XIX"), ("U071", 10, "XXII"),
    ],
)
def test_icd9_and_icd10_codes_land_in_the_same_icd10_chapters(code, version, chapter):
    assert icd_chapter(code, version) == chapter


@pytest.mark.parametrize("code, version", [("42", 9), ("X1", 10), ("ABC", 10), ("VXX", 9), ("4280", 11), ("1234", 10)])
def test_malformed_codes_have_no_chapter(code, version):
    assert icd_chapter(code, version) is None


def test_icd_chapter_task_is_multi_hot_over_all_22_chapters():
    task = get_task("icd_chapter")
    assert len(task.classes) == 22 == len(ICD_CHAPTERS)
    value, unmapped = task.map_codes("mimic-iv", ["IX", "IX", "XXI"])
    assert [task.classes[i] for i, v in enumerate(value) if v] == ["circulatory", "health_factors"]
    assert unmapped == []


def test_in_hospital_mortality_is_one_for_death():
    task = get_task("in_hospital_mortality")
    assert task.map_codes("mimic-iv", ["1"])[0] == 1 == task.class_index("died")
    assert task.map_codes("mimic-iv", ["0"])[0] == 0
    assert task.map_codes("mimic-iv", [""])[0] is None
