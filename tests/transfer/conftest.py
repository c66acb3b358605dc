"""Converted real-layout ECG corpora and a short pretraining run on them, shared by the transfer tests.

PTB-XL (ecg_superclass + ecg_harmonized, 14 records, two patients with two records each) and the
PhysioNet Challenge tree (ecg_harmonized, 16 records) are written by climb.corpora.ecg, a TUAB EEG
tree (eeg_abnormal, no class linked to any ECG task) by climb.corpora.eeg; all are converted with
the demo key, with 5-s signals to keep the encoders cheap.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from climb.corpora.ecg import write_challenge_corpus, write_ptbxl_corpus
from climb.corpora.eeg import write_tuab_corpus
from climb.trainer.config import Config
from climb.trainer.data import open_data
from climb.trainer.train import train
from tests.helpers import convert_demo


def _convert(tmp_path_factory, source: str, writer, options: dict | None = None) -> Path:
    raw = tmp_path_factory.mktemp(f"{source}-raw")
    writer(raw)
    out = tmp_path_factory.mktemp(f"{source}-out")
    convert_demo(source, raw, out, options=options)
    return out / source


@pytest.fixture(scope="session")
def ptbxl(tmp_path_factory) -> Path:
    return _convert(tmp_path_factory, "ptbxl", write_ptbxl_corpus, {"length_s": 5.0})


@pytest.fixture(scope="session")
def challenge(tmp_path_factory) -> Path:
    return _convert(tmp_path_factory, "challenge-ecg", write_challenge_corpus, {"length_s": 5.0})


@pytest.fixture(scope="session")
def tuab(tmp_path_factory) -> Path:
    return _convert(tmp_path_factory, "tuab", write_tuab_corpus)


def quick_config(out_dir: Path, datasets: tuple[str, ...], **changes) -> Config:
    base = dict(datasets=datasets, steps=3, batch_size=4, dim=16, eval_every=3, eval_batches=1, log_every=1,
                warmup_steps=1, progress=False, out_dir=str(out_dir), encoder_preset="tiny")
    return Config(**{**base, **changes})


@pytest.fixture(scope="session")
def pretrained(tmp_path_factory, ptbxl, challenge) -> Path:
    """A run pretrained on the Challenge corpus only (ecg_harmonized), PTB-XL held out: its run folder."""
    run = tmp_path_factory.mktemp("pretrained")
    cfg = quick_config(run, (str(ptbxl), str(challenge)), holdout_datasets=("ptbxl",), steps=4)
    train(cfg, open_data(cfg, 0, 1))
    return run

