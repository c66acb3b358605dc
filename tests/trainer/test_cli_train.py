"""`climb train` end to end on a converted real-layout corpus, from local disk and from S3."""

import json
from pathlib import Path

import pytest
import torch

from climb.cli import main
from climb.corpora.ecg import write_ptbxl_corpus
from climb.schemas.tasks import get_task
from climb.trainer.model import MultimodalModel
from tests.helpers import convert_demo

FAST = ["--set", "steps=3", "--set", "batch_size=4", "--set", "eval_every=3", "--set", "log_every=1",
        "--set", "dim=16", "--set", "progress=false", "--set", "encoder_preset=tiny"]


@pytest.fixture(scope="module")
def ptbxl(tmp_path_factory) -> Path:
    """A PTB-XL tree in its real layout, converted with the demo key: out/ptbxl/manifest.json."""
    raw = tmp_path_factory.mktemp("ptbxl-raw")
    write_ptbxl_corpus(raw)
    out = tmp_path_factory.mktemp("ptbxl-out")
    convert_demo("ptbxl", raw, out)
    return out / "ptbxl"


def _lines(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_climb_train_streams_a_converted_dataset_and_reports_val_metrics(ptbxl, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(ptbxl / "manifest.json"), *FAST, "--set", f"out_dir={run}"]) == 0
    lines = _lines(run)
    assert [line["step"] for line in lines if line["split"] == "train"] == [1, 2, 3]
    val = next(line for line in lines if line["split"] == "val")["metrics"]
    assert set(val) == {"ecg_harmonized", "ecg_superclass"}
    assert val["ecg_harmonized"]["n"] > 0
    ckpt = torch.load(run / "checkpoint.pt", weights_only=False)
    assert ckpt["modalities"] == ["signal"]
    assert ckpt["data"]["samples_seen"] == 9  # batches of 4, 4 and 1: the whole train split


def test_climb_train_reads_a_yaml_config(ptbxl, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(f"datasets: [{ptbxl}]\nfusion: cross_attention\ntasks: [ecg_superclass]\nout_dir: {tmp_path / 'run'}\n")
    assert main(["train", str(config), *FAST]) == 0
    val = next(line for line in _lines(tmp_path / "run") if line["split"] == "val")["metrics"]
    assert set(val) == {"ecg_superclass"}


def test_climb_train_refuses_a_mistyped_override_with_one_line(ptbxl, capsys):
    assert main(["train", str(ptbxl), "--set", "steps=many"]) == 2
    assert "steps takes int" in capsys.readouterr().err


def test_climb_train_streams_from_the_local_s3_server(ptbxl, s3_bucket, tmp_path):
    import fsspec

    fs = fsspec.filesystem("s3", **s3_bucket.storage_options)
    fs.put(str(ptbxl), f"{s3_bucket.name}/ptbxl", recursive=True)
    run = tmp_path / "run"
    assert main(["train", f"{s3_bucket.url}/ptbxl", *FAST, "--set", f"out_dir={run}"]) == 0
    assert [line["step"] for line in _lines(run) if line["split"] == "train"] == [1, 2, 3]


def test_climb_train_learns_from_volume_patches_read_from_zarr(tmp_path):
    from climb.corpora.imaging3d import write_kits_corpus

    write_kits_corpus(tmp_path / "raw")
    convert_demo("kits", tmp_path / "raw", tmp_path / "out")
    run = tmp_path / "run"
    args = ["train", str(tmp_path / "out" / "kits"), *FAST, "--set", "volume_patch=8,16,16", "--set", f"out_dir={run}"]
    assert main(args) == 0
    ckpt = torch.load(run / "checkpoint.pt", weights_only=False)
    assert ckpt["modalities"] == ["volume"] and ckpt["tasks"] == ["kidney_tumor_malignancy"]
    torch.manual_seed(0)  # the run's seed: the same initial weights
    initial = MultimodalModel(["volume"], [get_task("kidney_tumor_malignancy")], dim=16, preset="tiny").state_dict()
    first_conv = "encoders.volume.net.conv1.weight"
    assert not torch.equal(ckpt["model"][first_conv], initial[first_conv])  # patches reached the 3D CNN
