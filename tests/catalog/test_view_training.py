"""`climb train` takes a view file like a manifest: it trains on the selected samples only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from climb.cli import main
from climb.pipelines.catalog import build_catalog
from climb.trainer.config import load_config
from climb.trainer.data import open_data

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")
FAST = ["--set", "steps=2", "--set", "batch_size=2", "--set", "eval_every=2", "--set", "dim=8",
        "--set", "progress=false", "--set", "encoder_preset=tiny"]
WHERE = "positive(label.ecg_superclass)"


@pytest.fixture(scope="module")
def view(datasets: dict[str, Path], tmp_path_factory) -> Path:
    build_catalog(str(datasets["ptbxl"]))
    path = tmp_path_factory.mktemp("view") / "ecg.yaml"
    path.write_text(yaml.safe_dump({"name": "labelled-ecg", "datasets": [{"url": str(datasets["ptbxl"]), "where": WHERE}],
                                    "holdout_tasks": ["ecg_harmonized"]}))
    return path


def test_a_view_opens_its_filtered_datasets_and_holds_out_its_tasks(view, datasets):
    cfg = load_config([str(view)], [])
    data = open_data(cfg, 0, 1)
    (part,) = data.train.datasets
    assert part.where == f"({WHERE})"
    assert 0 < part.epoch_length() < part.info.total
    assert [t.name for t in data.tasks] == ["ecg_superclass"]


def test_climb_train_trains_on_a_view(view, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(view), *FAST, "--set", f"out_dir={run}"]) == 0
    ckpt = torch.load(run / "checkpoint.pt", weights_only=False)
    assert ckpt["data"]["selections"][0][0] == f"({WHERE})"
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 2


def test_a_yaml_trainer_config_is_not_mistaken_for_a_view(datasets, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(f"datasets: [{datasets['ptbxl']}]\ntasks: [ecg_superclass]\n")
    assert load_config([str(config)], []).tasks == ("ecg_superclass",)


def test_climb_evaluate_takes_a_one_dataset_view_and_reads_only_its_samples(view, datasets):
    from climb.errors import UserError
    from climb.trainer.embed import open_split
    from climb.trainer.evaluate import _view_dataset

    url, where = _view_dataset(str(view), None)
    assert url == str(datasets["ptbxl"]) and where == f"({WHERE})"
    split = open_split(url, "train", "signal", ("ecg_superclass",), where=where)
    labels = [s["labels"]["ecg_superclass"].tolist() for s in split]
    assert labels and all(1 in row for row in labels)
    two = view.parent / "two.yaml"
    two.write_text(yaml.safe_dump({"datasets": [str(datasets["ptbxl"]), str(datasets["vindr-cxr"])]}))
    with pytest.raises(UserError, match="one dataset"):
        _view_dataset(str(two), None)
