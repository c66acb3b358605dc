"""validate() names every problem of a malformed sample: the field, what was expected, what was found."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from climb.schemas.sample import Sample, ValidationError, validate


@pytest.fixture
def sample(multimodal_sample, test_tasks) -> Sample:
    """A fresh, valid, labelled copy of the real multimodal sample that each test may break."""
    s = copy.deepcopy(multimodal_sample)
    s.arrays["signal"] = s.arrays["signal"][:, :1000].copy()
    s.labels = {"test_binary": 0, "test_multilabel": [1, 0, None], "test_regression": 120.5}
    assert validate(s) == []
    return s


def only_error(errors: list[ValidationError]) -> ValidationError:
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def test_wrong_dtype_names_expected_and_found_dtype(sample):
    sample.arrays["signal"] = sample.arrays["signal"].astype(np.float64)
    assert only_error(validate(sample)) == ValidationError("signal.dtype", "float32", "float64")


def test_wrong_rank(sample):
    sample.arrays["volume"] = sample.arrays["volume"][0]
    assert only_error(validate(sample)) == ValidationError("volume.ndim", "3", "2")


def test_nans_in_signal_are_counted(sample):
    sample.arrays["signal"][3, 10:12] = np.nan
    assert only_error(validate(sample)) == ValidationError("signal.values", "finite numbers", "2 NaN/inf values")


def test_missing_label_for_a_required_task(sample):
    del sample.labels["test_binary"]
    error = only_error(validate(sample, required_tasks=("test_binary",)))
    assert (error.field, error.got) == ("labels.test_binary", "missing")


def test_masked_label_satisfies_a_required_task(sample):
    sample.labels["test_binary"] = None
    assert validate(sample, required_tasks=("test_binary",)) == []


def test_class_index_out_of_range(sample):
    sample.labels["test_binary"] = 2
    assert only_error(validate(sample)) == ValidationError("labels.test_binary", "a class index in [0, 2)", "2")


def test_class_name_instead_of_index(sample):
    sample.labels["test_binary"] = "positive"
    assert only_error(validate(sample)).field == "labels.test_binary"


def test_negative_volume_spacing(sample):
    sample.meta["volume"]["spacing"] = [5.0, -0.66, 0.66]
    error = only_error(validate(sample))
    assert (error.field, error.expected) == ("meta.volume.spacing", "3 positive numbers")


def test_image_spacing_with_wrong_length(sample):
    sample.meta["image"]["spacing"] = [0.1, 0.1, 0.1]
    assert only_error(validate(sample)).field == "meta.image.spacing"


def test_unknown_image_spacing_is_allowed_as_none(sample):
    sample.meta["image"]["spacing"] = None
    assert validate(sample) == []


def test_channel_count_mismatch(sample):
    sample.meta["signal"]["channels"] = sample.meta["signal"]["channels"][:11]
    assert only_error(validate(sample)) == ValidationError("meta.signal.channels", "12 names", "11")


def test_non_positive_sampling_rate(sample):
    sample.meta["signal"]["sampling_rate"] = 0
    assert only_error(validate(sample)).field == "meta.signal.sampling_rate"


def test_unknown_task(sample):
    sample.labels["no_such_task"] = 1
    assert only_error(validate(sample)) == ValidationError("labels.no_such_task", "a registered task", "unknown task")


def test_task_of_another_source(sample):
    error = only_error(validate(sample, tasks=("test_multilabel", "test_regression")))
    assert (error.field, error.got) == ("labels.test_binary", "foreign task")


def test_multilabel_vector_of_wrong_length(sample):
    sample.labels["test_multilabel"] = [1, 0]
    assert only_error(validate(sample)).field == "labels.test_multilabel"


def test_multilabel_booleans_are_not_labels(sample):
    sample.labels["test_multilabel"] = [True, False, None]
    assert only_error(validate(sample)).field == "labels.test_multilabel"


def test_nan_regression_target(sample):
    sample.labels["test_regression"] = float("nan")
    assert only_error(validate(sample)).field == "labels.test_regression"


def test_edge_index_out_of_range(sample):
    n = sample.arrays["graph"]["x"].shape[0]
    sample.arrays["graph"]["edge_index"][1, 0] = n
    assert only_error(validate(sample)) == ValidationError("graph.edge_index", f"node ids in [0, {n})", f"[0, {n}]")


def test_edge_attr_row_count_must_match_edges(sample):
    sample.arrays["graph"]["edge_attr"] = sample.arrays["graph"]["edge_attr"][:-1]
    assert only_error(validate(sample)).field == "graph.edge_attr.shape[0]"


def test_graph_without_edge_attr_is_valid(sample):
    del sample.arrays["graph"]["edge_attr"]
    assert validate(sample) == []


def test_missing_field_metadata(sample):
    del sample.meta["signal"]
    assert only_error(validate(sample)) == ValidationError("meta.signal", "a dict of field metadata", "NoneType")


def test_missing_required_metadata_key(sample):
    del sample.meta["volume"]["orientation"]
    assert only_error(validate(sample)) == ValidationError("meta.volume.orientation", "present", "missing")


def test_rgb_image_must_have_three_channels(sample):
    sample.arrays["image"] = np.zeros((4, 4, 4), dtype=np.uint8)
    assert only_error(validate(sample)) == ValidationError("image.shape[-1]", "3 (RGB)", "4")


def test_empty_axis(sample):
    sample.arrays["signal"] = np.zeros((12, 0), dtype=np.float32)
    assert only_error(validate(sample)).field == "signal.shape"


def test_non_positive_video_fps(sample):
    sample.meta["video"]["fps"] = -25.0
    assert only_error(validate(sample)) == ValidationError("meta.video.fps", "positive number", "-25.0")


def test_nan_in_tabular_is_reported_not_written(sample):
    sample.arrays["tabular"]["lactate_mmol_l"] = float("nan")
    assert only_error(validate(sample)).field == "tabular"


def test_numpy_scalar_in_metadata_is_reported(sample):
    sample.meta["baseline_mv"] = np.float32(0.1)
    assert only_error(validate(sample)).field == "meta"


def test_unknown_field(sample):
    sample.arrays["hologram"] = np.zeros((2, 2), dtype=np.uint8)
    error = only_error(validate(sample))
    assert (error.field, error.got) == ("arrays.hologram", "unknown field")


def test_sample_without_any_modality(sample):
    sample.arrays.clear()
    assert only_error(validate(sample)).field == "arrays"


def test_text_must_be_a_string(sample):
    sample.arrays["text"] = b"bytes"
    assert only_error(validate(sample)) == ValidationError("text", "str", "bytes")


def test_every_problem_is_reported_at_once(sample):
    sample.arrays["signal"] = sample.arrays["signal"].astype(np.float64)
    sample.meta["volume"]["spacing"] = [0, 1, 1]
    sample.labels["test_binary"] = 5
    fields = {e.field for e in validate(sample)}
    assert fields == {"signal.dtype", "meta.volume.spacing", "labels.test_binary"}


def test_error_reads_as_field_expected_got():
    assert str(ValidationError("signal.dtype", "float32", "float64")) == "signal.dtype: expected float32, got float64"
