"""A spec is validated before anything runs: each mistake is one message naming the field and what to write."""

from __future__ import annotations

import copy

import pytest

from climb.pipelines.sources.spec import SpecError, norm_value, parse, read_spec

GOOD = {
    "name": "derm",
    "description": "a dermoscopy folder",
    "modality": "image",
    "files": {"glob": "images/*.jpg"},
    "sheet": {"path": "labels.csv", "key": "image"},
    "subject": "patient",
    "labels": [{"task": "skin_lesion", "column": "dx", "map": {"mel": "MEL", "nv": "NV"}}],
    "split": {"fractions": {"train": 0.7, "val": 0.15, "test": 0.15}},
    "image": {"size": 128, "color": "rgb"},
}


def broken(path: str, value):
    """GOOD with one key set (value None deletes it); path like 'labels.0.map'."""
    spec = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = spec
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return spec


def test_a_good_spec_parses_into_its_parts():
    spec = parse(GOOD)
    assert (spec.name, spec.modality, spec.globs, spec.subject) == ("derm", "image", ("images/*.jpg",), "patient")
    assert spec.sheet.file_key == ("stem",)
    assert dict(spec.split.fractions) == {"train": 0.7, "val": 0.15, "test": 0.15}
    assert spec.options == {"size": 128, "color": "rgb"}


@pytest.mark.parametrize("path, value, words", [
    ("name", None, ["name: is required", "name: isic2019"]),
    ("name", "My Set", ["name: 'My Set' is not a source name", "lowercase"]),
    ("modality", "audio", ["modality: 'audio' is not supported", "image, video, volume"]),
    ("files.glob", None, ["files.glob: is required"]),
    ("files.fields", "(?P<x", ["files.fields: is not a valid regular expression"]),
    ("sheet.path", "labels.xlsx", ["sheet.path: Excel sheets are not read", "save the sheet as CSV"]),
    ("sheet.file_key", ["stem", "parent"], ["sheet.file_key: names 2 field(s) but key names 1"]),
    ("labels.0.task", "skin_lesions", ["labels[0].task: unknown task 'skin_lesions'"]),
    ("labels.0.map", {"mel": "Melanoma"}, ["labels[0].map:", "'Melanoma'", "classes of skin_lesion are"]),
    ("labels.0.one_hot", ["MEL", "NV"], ["labels[0]: needs exactly one of column, one_hot, columns"]),
    ("labels.0.colum", "dx", ["labels[0].colum: is not a spec key", "did you mean 'column'?"]),
    ("split.fractions", {"train": 0.9, "val": 0.2}, ["split.fractions: split fractions must sum to 1"]),
    ("split.values", {"1": "holdout"}, ["split.values: 'holdout' is not a split", "train, val, test or hash"]),
    ("image.color", "bgr", ["image.color: must be one of ('rgb', 'gray')"]),
    ("image.size", "big", ["image.size: has the wrong type (str)"]),
    ("video", {"fps": 10}, ["video: options for video in a image spec", "write `image:` instead"]),
])
def test_each_mistake_names_its_field_and_the_fix(path, value, words):
    with pytest.raises(SpecError) as err:
        parse(broken(path, value), "derm.yaml")
    message = str(err.value)
    assert message.startswith("derm.yaml: ") and "\n" not in message
    for word in words:
        assert word in message, message


def test_without_a_sheet_every_field_must_be_a_named_group_of_the_path():
    spec = broken("sheet", None)
    with pytest.raises(SpecError, match=r"subject: no sheet, and 'patient' is not a file field; file fields are .*stem"):
        parse(spec, "derm.yaml")
    spec["files"]["fields"] = r"(?P<patient>\d+)/(?P<dx>\w+)/"
    assert parse(spec).subject == "patient"


def test_yaml_yes_and_no_stay_folder_names_not_booleans(tmp_path):
    (tmp_path / "mri.yaml").write_text(
        "name: mri\ndescription: yes/no folders\nmodality: image\n"
        "files: {glob: '*/*.jpg', fields: '^(?P<finding>yes|no)/'}\n"
        "labels:\n  - {task: brain_tumor_present, column: finding, map: {yes: present, no: absent}}\n"
    )
    assert dict(read_spec(tmp_path / "mri.yaml").labels[0].map) == {"yes": ("present",), "no": ("absent",)}


def test_a_missing_or_malformed_spec_file_is_one_clear_error(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        read_spec(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="bad.yaml: not valid YAML"):
        read_spec(tmp_path / "bad.yaml")


def test_yaml_dates_must_be_quoted_since_the_spec_travels_as_json():
    with pytest.raises(SpecError, match="quote it"):
        parse({**GOOD, "description": __import__("datetime").date(2020, 1, 1)}, "derm.yaml")


@pytest.mark.parametrize("raw, key", [(" 1.0 ", "1"), ("049", "49"), ("NV", "nv"), ("2.5", "2.5"), ("", "")])
def test_values_match_trimmed_case_folded_and_numbers_as_numbers(raw, key):
    assert norm_value(raw) == key
