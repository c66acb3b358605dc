"""The training loop: config parsing, learning, exact resume, metrics output."""

import json

import pytest
import torch

from climb.trainer.config import Config, load_config
from climb.trainer.data import Data
from climb.trainer.train import train

from .conftest import TASKS, SyntheticStream

FAST = ("signal", "tabular", "text", "graph")  # the cheap encoders; the loop is what is under test


def _data(seed: int = 0) -> Data:
    return Data(
        train=SyntheticStream(seed, modalities=FAST),
        val=lambda rank, world_size: SyntheticStream(99, size=32, modalities=FAST),
        modalities=FAST,
        tasks=TASKS,
    )


def _config(tmp_path, **changes) -> Config:
    base = dict(steps=20, batch_size=8, dim=16, lr=3e-3, warmup_steps=5, eval_every=10, eval_batches=2,
                log_every=5, out_dir=str(tmp_path), progress=False, fusion="gated", contrastive_weight=0.1,
                encoder_preset="tiny")
    return Config(**{**base, **changes})


def test_config_from_yaml_and_toml_files_manifests_and_overrides(tmp_path):
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("fusion: late\nsteps: 30\ndatasets: [a/manifest.json]\nweights: [2, 1]\n")
    toml_file = tmp_path / "more.toml"
    toml_file.write_text('lr = 0.01\ntasks = ["eeg_abnormal"]\n')
    cfg = load_config([str(yaml_file), str(toml_file), "b/manifest.json"], ["steps=7", "resume=true", "temperature=0.1"])
    assert cfg.fusion == "late" and cfg.steps == 7 and cfg.resume is True and cfg.lr == 0.01
    assert cfg.weights == (2.0, 1.0) and cfg.temperature == 0.1 and cfg.tasks == ("eeg_abnormal",)
    assert cfg.datasets == ("a/manifest.json", "b/manifest.json")


@pytest.mark.parametrize("override, message", [
    ("steps=ten", "steps takes int"),
    ("resume=maybe", "resume takes bool"),
    ("lr=fast", "lr takes float"),
    ("stepz=3", "unknown config field"),
    ("steps", "key=value"),
])
def test_config_overrides_are_type_checked(override, message):
    with pytest.raises(ValueError, match=message):
        load_config([], [override])


@pytest.mark.parametrize("overrides, message", [
    (["datasets=a,b", "weights=1"], "1 weights for 2 datasets"),
    (["task_weights=2"], "1 task_weights for 0 tasks"),
    (["fusion=attention"], "fusion 'attention' is not one of"),
    (["regression_loss=huber"], "regression_loss 'huber'"),
])
def test_config_values_are_checked_together(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config([], overrides)


def test_config_file_values_are_type_checked(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("batch_size: 3.5\n")
    with pytest.raises(ValueError, match="batch_size takes int"):
        load_config([str(path)], [])


def test_loss_decreases_over_50_steps_on_a_learnable_task(tmp_path):
    losses = train(_config(tmp_path, steps=50, eval_every=50), _data())
    assert len(losses) == 50
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.6 * first, (first, last)


def test_resume_from_a_checkpoint_reproduces_the_next_10_losses_exactly(tmp_path):
    straight = train(_config(tmp_path / "straight"), _data())
    first_half = train(_config(tmp_path / "split", stop_at=10), _data())
    second_half = train(_config(tmp_path / "split", resume=True), _data())
    assert first_half == straight[:10]
    assert second_half == straight[10:]


def test_metrics_jsonl_has_training_lines_and_validation_metrics(tmp_path):
    train(_config(tmp_path, steps=10, eval_every=10, log_every=5), _data())
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(line["step"], line["split"]) for line in lines] == [(5, "train"), (10, "train"), (10, "val")]
    assert set(lines[0]["tasks"]) == {t.name for t in TASKS} | {"contrastive"}
    val = lines[-1]["metrics"]
    assert set(val) == {t.name for t in TASKS}
    assert set(val["eeg_abnormal"]) == {"auroc", "macro_f1", "n"} and val["eeg_abnormal"]["n"] > 0
    assert set(val["fixture_score"]) == {"mae", "n"}


def test_checkpoint_holds_everything_needed_to_resume(tmp_path):
    train(_config(tmp_path, steps=10), _data())
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 10 and ckpt["config"]["steps"] == 10
    assert ckpt["data"] == {"epoch": 0, "position": 80}
    assert {"model", "optimizer", "scaler", "rng"} <= set(ckpt)
    assert ckpt["tasks"] == [t.name for t in TASKS]


def test_encoder_specs_and_precision_come_from_the_config_and_the_command_line(tmp_path):
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("encoders:\n  image: {factory: 'monai:DenseNet121', adapter: {size: 320}}\nencoder_preset: small\n")
    cfg = load_config([str(yaml_file)], ['encoders={"signal": {"kwargs": {"width": 32}}}', "precision=bf16",
                                         "channels_last=true"])
    assert cfg.encoders == {"signal": {"kwargs": {"width": 32}}}  # --set replaces the field, as for every field
    assert cfg.encoder_preset == "small" and cfg.precision == "bf16" and cfg.channels_last is True
    assert load_config([str(yaml_file)], []).encoders["image"]["adapter"] == {"size": 320}
    with pytest.raises(ValueError, match="JSON"):
        load_config([], ["encoders={signal"])
    with pytest.raises(ValueError, match="encoder_preset"):
        Config(encoder_preset="huge")


def test_precision_picks_the_autocast_dtype_and_refuses_fp16_on_a_cpu():
    from climb.trainer.train import autocast_dtype

    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) is None and autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="GPU"):
        autocast_dtype("fp16", cpu)


def test_bf16_autocast_trains_on_the_cpu_and_keeps_fp32_weights(tmp_path):
    losses = train(_config(tmp_path, steps=4, eval_every=4, precision="bf16"), _data())
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert {v.dtype for v in state["model"].values() if v.is_floating_point()} == {torch.float32}
