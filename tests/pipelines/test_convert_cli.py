"""`climb convert` / `climb verify` from the command line: results and one-line errors."""

from __future__ import annotations

import pytest

from climb.cli import main
from climb.transforms.phi import DEMO_KEY, KEY_ENV


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, DEMO_KEY.decode())


def test_convert_then_verify_succeeds(dicom_corpus, tmp_path, key_env, capsys):
    assert main(["convert", "dicom", str(dicom_corpus), str(tmp_path), "--no-progress"]) == 0
    assert "9 written" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "dicom")]) == 0


def test_convert_without_a_key_refuses_with_one_line(dicom_corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert main(["convert", "dicom", str(dicom_corpus), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert KEY_ENV in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unknown_source_suggests_the_closest_name(dicom_corpus, tmp_path, key_env, capsys):
    assert main(["convert", "dicomm", str(dicom_corpus), str(tmp_path)]) == 2
    assert "did you mean 'dicom'" in capsys.readouterr().err


def test_existing_output_needs_overwrite(dicom_corpus, tmp_path, key_env, capsys):
    assert main(["convert", "dicom", str(dicom_corpus), str(tmp_path), "--no-progress"]) == 0
    assert main(["convert", "dicom", str(dicom_corpus), str(tmp_path), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_verify_of_a_folder_without_manifest_exits_2(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err


@pytest.mark.dask
def test_a_dask_conversion_shows_its_result_without_dask_info_lines_or_beam_import_warnings(
        dicom_corpus, tmp_path, key_env, caplog, capfd):
    import logging

    import distributed  # noqa: F401 - sets its loggers' levels on first import

    caplog.set_level(logging.INFO)
    level = logging.getLogger("distributed").level
    assert main(["convert", "dicom", str(dicom_corpus), str(tmp_path), "--runner", "dask", "--workers", "2", "--no-progress"]) == 0
    out, err = capfd.readouterr()
    assert "9 written" in out
    assert "apitools" not in err  # printed by the spawned workers, captured at the file descriptor
    assert not [r for r in caplog.records if r.name.startswith("distributed") and r.levelno < logging.WARNING]
    assert logging.getLogger("distributed").level == level
