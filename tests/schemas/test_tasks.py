"""The task registry maps raw labels exactly, reports what it cannot map, and masks instead of guessing."""

from __future__ import annotations

import pytest

from climb.schemas.tasks import TASK_TYPES, TASKS, Task, get_task, norm_code

CXR = Task(
    "test_cxr",
    "multilabel",
    ("No Finding", "Edema", "Pneumonia"),
    source_maps={"testsrc": {"No Finding": "No Finding", "Edema": "Edema", "Pneumonia": "Pneumonia", "CHF": ("Edema",)}},
)
SEVERITY = Task(
    "test_severity",
    "multiclass",
    ("none", "mild", "severe"),
    source_maps={"testsrc": {"0": "none", "1": "mild", "2": "severe", "grade 1": "mild"}},
)


def test_exact_code_maps_to_its_class_index():
    assert SEVERITY.map_codes("testsrc", ["2"]) == (2, [])


def test_matching_ignores_case_and_surrounding_whitespace():
    assert SEVERITY.map_codes("testsrc", ["  GRADE 1\t"]) == (1, [])


def test_matching_is_exact_not_by_substring_or_prefix():
    assert SEVERITY.map_codes("testsrc", ["grade 12"]) == (None, ["grade 12"])


def test_unmapped_code_is_reported_and_masked_never_guessed():
    value, unmapped = SEVERITY.map_codes("testsrc", ["uncertain"])
    assert value is None
    assert unmapped == ["uncertain"]


def test_conflicting_codes_mask_a_single_label_task():
    assert SEVERITY.map_codes("testsrc", ["0", "2"]) == (None, [])


def test_repeated_codes_of_one_class_are_not_a_conflict():
    assert SEVERITY.map_codes("testsrc", ["1", "grade 1"]) == (1, [])


def test_source_without_a_map_masks_everything():
    assert SEVERITY.map_codes("othersrc", ["1"]) == (None, ["1"])


def test_multilabel_sets_every_hit_class():
    assert CXR.map_codes("testsrc", ["edema", "PNEUMONIA"]) == ([0, 1, 1], [])


def test_one_code_may_name_several_classes_and_duplicates_collapse():
    assert CXR.map_codes("testsrc", ["CHF", "Edema"]) == ([0, 1, 0], [])


def test_multilabel_with_no_mapped_code_is_fully_masked():
    assert CXR.map_codes("testsrc", ["Lung Lesion"]) == ([None, None, None], ["Lung Lesion"])


def test_multilabel_keeps_mapped_classes_and_reports_the_rest():
    assert CXR.map_codes("testsrc", ["Edema", "Hernia"]) == ([0, 1, 0], ["Hernia"])


def test_multilabel_mask_is_per_class():
    assert CXR.mask([1, None, 0]) == [True, False, True]
    assert CXR.mask(None) == [False, False, False]


def test_single_label_mask():
    assert SEVERITY.mask(None) is False
    assert SEVERITY.mask(0) is True


def test_regression_targets_are_not_mapped_from_codes():
    with pytest.raises(TypeError, match="regression"):
        Task("test_bp", "regression", units="mmHg").map_codes("testsrc", ["120"])


def test_source_map_to_an_unknown_class_fails_at_definition():
    with pytest.raises(ValueError, match="unknown class"):
        Task("test_bad", "binary", ("no", "yes"), source_maps={"testsrc": {"Y": "yess"}})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"type": "ordinal", "classes": ("a", "b")}, "type must be one of"),
        ({"type": "multiclass", "classes": ()}, "needs classes"),
        ({"type": "binary", "classes": ("a", "b", "c")}, "exactly 2 classes"),
    ],
    ids=["unknown-type", "no-classes", "binary-with-3"],
)
def test_malformed_task_definitions_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Task("test_bad", **kwargs)


def test_norm_code_trims_and_casefolds():
    assert norm_code("  Straße\t") == norm_code("STRASSE")


def test_every_registered_task_is_well_formed():
    for name, task in TASKS.items():
        assert task.name == name
        assert task.type in TASK_TYPES
        assert len(set(map(norm_code, task.classes))) == len(task.classes), f"{name} has duplicate classes"


def test_get_task_names_the_registered_tasks_on_a_typo():
    some = next(iter(TASKS))
    assert get_task(some) is TASKS[some]
    with pytest.raises(KeyError, match="registered tasks"):
        get_task("no_such_task")


def test_ptbxl_axr_maps_despite_the_reference_codes_trailing_tab():
    """datasets.md: the reference code's `AXR\\t` could never match; here it maps to `other`."""
    task = get_task("ecg_harmonized")
    value, unmapped = task.map_codes("ptbxl", ["AXR\t"])
    assert unmapped == []
    assert value[task.class_index("other")] == 1
    assert sum(value) == 1
