"""`climb train` holds tasks and whole datasets out of pretraining, and says so in its encoder files."""

import json
import shutil

import pytest
import torch

from climb.cli import main
from climb.trainer.config import Config
from climb.trainer.data import open_data
from climb.trainer.export import read_encoder_file
from climb.trainer.holdout import held_in_datasets, training_tasks

from .conftest import quick_config


def test_a_dataset_is_held_out_by_source_name_or_url():
    urls, sources = ["out/ptbxl", "out/challenge-ecg/manifest.json"], ["ptbxl", "challenge-ecg"]
    assert held_in_datasets(urls, sources, ["ptbxl"]) == [1]
    assert held_in_datasets(urls, sources, ["out/challenge-ecg"]) == [0]
    assert held_in_datasets(urls, sources, []) == [0, 1]


@pytest.mark.parametrize("holdout, message", [(["ptbxI"], "match no dataset"), (["ptbxl", "challenge-ecg"], "every dataset")])
def test_a_holdout_that_matches_nothing_or_everything_is_refused(holdout, message):
    with pytest.raises(ValueError, match=message):
        held_in_datasets(["out/ptbxl", "out/challenge-ecg"], ["ptbxl", "challenge-ecg"], holdout)


def test_held_out_tasks_leave_the_task_list_and_unknown_ones_are_refused():
    labelled = ["ecg_superclass", "ecg_harmonized"]
    assert training_tasks((), labelled, labelled, ["ecg_superclass"]) == ("ecg_harmonized",)
    with pytest.raises(ValueError, match="ecg_superklass"):
        training_tasks((), labelled, labelled, ["ecg_superklass"])


def test_a_task_both_trained_and_held_out_is_a_config_error():
    with pytest.raises(ValueError, match="both trained and held out"):
        Config(tasks=("ecg_superclass",), holdout_tasks=("ecg_superclass",))


def test_open_data_trains_without_the_held_out_dataset_and_task(ptbxl, challenge, tmp_path):
    cfg = quick_config(tmp_path, (str(ptbxl), str(challenge)), holdout_datasets=(str(challenge),),
                       holdout_tasks=("ecg_superclass",))
    data = open_data(cfg, 0, 1)
    assert [t.name for t in data.tasks] == ["ecg_harmonized"]
    assert [m["source"] for m in data.manifests] == ["ptbxl"]
    assert [d.info.manifest["source"] for d in data.train.datasets] == ["ptbxl"]


def test_open_data_builds_encoders_for_the_modalities_the_manifest_lists(ptbxl, tmp_path):
    # the manifest, not the source's code, is what the trainer trusts: a listed field gets an encoder
    copy = tmp_path / "ptbxl"
    shutil.copytree(ptbxl, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["modalities"] == ["signal"]
    (copy / "manifest.json").write_text(json.dumps({**manifest, "modalities": ["image", "signal"]}))
    assert open_data(quick_config(tmp_path, (str(ptbxl),)), 0, 1).modalities == ("signal",)
    assert open_data(quick_config(tmp_path, (str(copy),)), 0, 1).modalities == ("image", "signal")


def test_climb_train_writes_encoder_files_naming_what_was_trained_on_and_held_out(ptbxl, challenge, tmp_path):
    argv = ["train", str(ptbxl), str(challenge), "--set", "holdout_tasks=ecg_superclass", "--set", "holdout_datasets=challenge-ecg",
            "--set", "steps=2", "--set", "batch_size=4", "--set", "dim=16", "--set", "eval_every=2", "--set", "progress=false",
            "--set", f"out_dir={tmp_path}"]
    assert main(argv) == 0
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["tasks"] == ["ecg_harmonized"]
    record = read_encoder_file(tmp_path / "encoders" / "signal.pt")
    manifest_sha = open_data(quick_config(tmp_path, (str(ptbxl),)), 0, 1).manifests[0]["sha256"]
    assert [(m["source"], m["split"], m["sha256"]) for m in record["manifests"]] == [("ptbxl", "train", manifest_sha)]
    assert record["holdout"] == {"tasks": ["ecg_superclass"], "datasets": ["challenge-ecg"]}
    assert [t["name"] for t in record["tasks"]] == ["ecg_harmonized"] and record["step"] == 2
