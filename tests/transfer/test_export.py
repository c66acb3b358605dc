"""Encoder files: versioned, opened without pickle, rebuilt without the trainer, identical embeddings."""

import pytest
import torch

from climb.loaders import ClimbDataset
from climb.schemas.sample import SCHEMA_VERSION
from climb.trainer import load_encoder
from climb.trainer.config import Config
from climb.trainer.data import open_data
from climb.trainer.export import ENCODER_FORMAT_VERSION, Readout, read_encoder_file, save_record
from climb.trainer.model import MultimodalModel


def _batch(url):
    loader = ClimbDataset(str(url), split="train", shuffle=False, modalities=("signal",)).loader(batch_size=4)
    return next(iter(loader))


def _model(run) -> MultimodalModel:
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    cfg = Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["config"].items()})
    data = open_data(cfg, 0, 1)
    model = MultimodalModel(state["modalities"], data.tasks, cfg.dim, cfg.fusion, preset=cfg.encoder_preset, encoders=cfg.encoders)
    model.load_state_dict(state["model"])
    return model.eval()


def test_the_file_holds_the_documented_keys_and_opens_with_weights_only(pretrained):
    record = torch.load(pretrained / "encoders" / "signal.pt", weights_only=True)
    assert record["format"] == "climb-encoder" and record["format_version"] == ENCODER_FORMAT_VERSION
    assert record["modality"] == "signal" and record["embedding_dim"] == 16
    assert record["encoder"]["factory"] == "climb.trainer.networks:ResNet1d" and record["encoder"]["kwargs"]["dim"] == 16
    assert record["encoder"]["kwargs"]["in_channels"] == record["encoder"]["adapter"]["channels"] == 32
    assert record["schema_version"] == SCHEMA_VERSION
    assert [m["source"] for m in record["manifests"]] == ["challenge-ecg"]
    assert all(len(m["sha256"]) == 64 for m in record["manifests"])


def test_load_encoder_gives_the_embeddings_of_the_trained_model(pretrained, challenge):
    model, batch = _model(pretrained), _batch(challenge)
    encoder = load_encoder(pretrained / "encoders" / "signal.pt")
    with torch.no_grad():
        tokens, _ = model.encode(batch)
        assert torch.equal(encoder(batch["signal"]), tokens[:, 0])
    assert not encoder.training


def test_the_readout_reproduces_the_pretrained_logits_from_the_embeddings(pretrained, challenge):
    model, batch = _model(pretrained), _batch(challenge)
    record = read_encoder_file(pretrained / "encoders" / "signal.pt")
    readout, encoder = Readout(record), load_encoder(pretrained / "encoders" / "signal.pt")
    with torch.no_grad():
        expected, _, _ = model(batch)
        got = readout(encoder(batch["signal"]))
    assert torch.allclose(got["ecg_harmonized"], expected["ecg_harmonized"], atol=1e-6)


def test_a_training_checkpoint_or_a_newer_format_is_refused_with_the_reason(pretrained, tmp_path):
    with pytest.raises(ValueError, match="not a training checkpoint"):
        read_encoder_file(pretrained / "checkpoint.pt")
    record = read_encoder_file(pretrained / "encoders" / "signal.pt")
    save_record({**record, "format_version": ENCODER_FORMAT_VERSION + 1}, tmp_path / "future.pt")
    with pytest.raises(ValueError, match=f"format version {ENCODER_FORMAT_VERSION + 1}"):
        read_encoder_file(tmp_path / "future.pt")


def test_a_file_of_an_older_format_is_refused_with_the_reason(pretrained, tmp_path):
    record = read_encoder_file(pretrained / "encoders" / "signal.pt")
    old = {**record, "format_version": 2, "encoder": {"class": "SignalEncoder", "kwargs": {"dim": 16}}}
    save_record(old, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="version 2, written by an older climb.*retrain"):
        read_encoder_file(tmp_path / "old.pt")


def test_a_file_rebuilds_its_backbone_by_import_without_climbs_registry_or_presets(pretrained, challenge, monkeypatch):
    from climb.trainer import backbones

    expected = load_encoder(pretrained / "encoders" / "signal.pt")
    monkeypatch.setattr(backbones, "CLIMB_FACTORIES", {})
    monkeypatch.setattr(backbones, "PRESETS", {})
    encoder = load_encoder(pretrained / "encoders" / "signal.pt")
    batch = _batch(challenge)
    with torch.no_grad():
        torch.testing.assert_close(encoder(batch["signal"], batch.get("signal_mask")),
                                   expected(batch["signal"], batch.get("signal_mask")))


def test_a_monai_backbone_round_trips_through_its_file(tmp_path):
    from climb.trainer.backbones import build
    from climb.trainer.export import encoder_record

    torch.manual_seed(0)
    encoder = build("image", 8, "tiny").eval()
    save_record(encoder_record(encoder, "image"), tmp_path / "image.pt")
    record = torch.load(tmp_path / "image.pt", weights_only=True)
    assert record["encoder"]["factory"] == "monai.networks.nets:DenseNet"
    image = torch.randint(0, 255, (2, 40, 40, 3), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(load_encoder(tmp_path / "image.pt")(image), encoder(image))
