"""The declared json-member type: conform() gives every record of a dataset the same fields and types."""

from __future__ import annotations

from climb.schemas.json_member import BOOL, FLOAT, INT, STRING, Map, Multi, conform, declared_meta


def test_absent_declared_fields_become_nulls_and_present_ones_keep_their_values():
    kind = {"a": STRING, "b": {"c": FLOAT, "d": [INT]}}
    assert conform({"a": "x"}, kind) == ({"a": "x", "b": None}, [])
    assert conform({"b": {"d": [1, 2]}}, kind) == ({"a": None, "b": {"c": None, "d": [1, 2]}}, [])


def test_ints_in_float_fields_become_floats():
    value, errors = conform({"age": 45, "scale": [1, 0.5]}, {"age": FLOAT, "scale": [FLOAT]})
    assert errors == [] and value == {"age": 45.0, "scale": [1.0, 0.5]}
    assert isinstance(value["age"], float)


def test_an_undeclared_field_is_an_error_naming_its_path():
    _, errors = conform({"image": {"spacing": [1.0, 1.0], "secret": "x"}}, {"image": {"spacing": [FLOAT]}})
    assert [e.field for e in errors] == ["meta.image.secret"]


def test_a_value_of_another_type_is_an_error():
    _, errors = conform({"n": "12", "flag": 1, "count": 2.5}, {"n": INT, "flag": BOOL, "count": INT})
    assert sorted(e.field for e in errors) == ["meta.count", "meta.flag", "meta.n"]


def test_multi_valued_attributes_are_always_lists():
    kind = {"WindowCenter": Multi(FLOAT)}
    assert conform({"WindowCenter": 40}, kind)[0] == {"WindowCenter": [40.0]}
    assert conform({"WindowCenter": [40, 400]}, kind)[0] == {"WindowCenter": [40.0, 400.0]}


def test_data_keyed_dicts_become_sorted_key_value_lists_and_stay_so():
    kind = {"scp_codes": Map(FLOAT)}
    once, errors = conform({"scp_codes": {"SR": 0, "NORM": 100}}, kind)
    assert errors == [] and once == {"scp_codes": [{"key": "NORM", "value": 100.0}, {"key": "SR", "value": 0.0}]}
    assert conform(once, kind) == (once, [])


def test_the_declaration_has_a_label_and_mask_field_per_task():
    kind = declared_meta("ptbxl", ("signal",), ("ecg_superclass", "ecg_harmonized"))
    assert kind["labels"] == {"ecg_harmonized": [INT], "ecg_superclass": [INT]}
    assert kind["label_mask"] == {"ecg_harmonized": [BOOL], "ecg_superclass": [BOOL]}
    assert kind["unmapped_codes"] == {"ecg_harmonized": [STRING], "ecg_superclass": [STRING]}
    assert kind["signal"]["sampling_rate"] == FLOAT and "image" not in kind


def test_a_regression_label_is_a_number_and_its_mask_one_bool():
    kind = declared_meta("echonet", ("video",), ("lvef",))
    assert kind["labels"] == {"lvef": FLOAT} and kind["label_mask"] == {"lvef": BOOL}
