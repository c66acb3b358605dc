"""`climb convert SPEC.yaml RAW OUT`: a user's spec file runs like a registered source, in any worker
process, and `climb reproduce` rebuilds it byte for byte from the manifest alone (no YAML needed)."""

from __future__ import annotations

import json

import pytest

from climb.cli import main
from climb.corpora.folders import write_brain_mri_corpus
from climb.transforms.phi import DEMO_KEY, KEY_ENV

USER_SPEC = """\
# a user's own layout: class folders, grayscale at 64 px, 70/30 train/test
name: my-mri
description: my yes/no MRI folders
modality: image
files:
  glob: '*/*'
  fields: '^(?P<finding>yes|no)/[^/]+$'
labels:
  - task: brain_tumor_present
    column: finding
    map: {yes: present, no: absent}
split:
  fractions: {train: 0.7, test: 0.3}
image: {size: 64, color: gray}
"""


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, DEMO_KEY.decode())


@pytest.fixture
def spec_and_raw(tmp_path):
    spec = tmp_path / "my-mri.yaml"
    spec.write_text(USER_SPEC)
    write_brain_mri_corpus(tmp_path / "raw")
    return spec, tmp_path / "raw"


def test_a_spec_file_converts_under_its_own_name(spec_and_raw, tmp_path, key_env, capsys):
    spec, raw = spec_and_raw
    assert main(["convert", str(spec), str(raw), str(tmp_path / "out"), "--no-progress", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{tmp_path / 'out' / 'my-mri'}: 8 written")
    manifest = json.loads((tmp_path / "out" / "my-mri" / "manifest.json").read_text())
    assert manifest["source"] == "my-mri" and set(manifest["splits"]) <= {"train", "test"}
    assert manifest["config"]["options"]["size"] == 64 and manifest["config"]["options"]["spec"]["name"] == "my-mri"
    assert manifest["tasks"]["brain_tumor_present"]["counts"] == {"absent": 4, "present": 4}


def test_worker_processes_and_reproduce_rebuild_it_byte_identical(spec_and_raw, tmp_path, key_env, capsys):
    spec, raw = spec_and_raw
    assert main(["convert", str(spec), str(raw), str(tmp_path / "one"), "--no-progress", "--workers", "1"]) == 0
    assert main(["convert", str(spec), str(raw), str(tmp_path / "two"), "--no-progress", "--workers", "2"]) == 0
    one, two = ((tmp_path / d / "my-mri" / "manifest.json").read_bytes() for d in ("one", "two"))
    assert one == two
    spec.unlink()  # the manifest carries the spec
    assert main(["reproduce", str(tmp_path / "one" / "my-mri"), str(raw), str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "my-mri" / "manifest.json").read_bytes() == one


def test_a_bad_spec_file_stops_with_one_line_naming_the_field(spec_and_raw, tmp_path, key_env, capsys):
    spec, raw = spec_and_raw
    spec.write_text(USER_SPEC.replace("column: finding", "colum: finding"))
    assert main(["convert", str(spec), str(raw), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "my-mri.yaml: labels[0].colum: is not a spec key; did you mean 'column'?" in err


def test_a_shipped_spec_is_converted_by_name(tmp_path, key_env, capsys):
    write_brain_mri_corpus(tmp_path / "raw")
    assert main(["convert", "brain-mri", str(tmp_path / "raw"), str(tmp_path / "out"), "--no-progress"]) == 0
    assert "8 written, 0 quarantined, 0 excluded of 8 discovered" in capsys.readouterr().out


def test_climb_datasets_lists_the_spec_sources(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("isic2019", "chestx-ray8", "covid-us", "ct-ich"):
        assert any(line.split()[:1] == [name] for line in out.splitlines()), name
