"""Synthetic multimodal samples with a learnable latent class, for trainer tests that need no shards.

Every sample draws a latent class c in 0..4 and writes it into each of its modalities in a way a small
encoder can read (square position in the image, sine frequency in the signal, a word in the text, ...).
Each modality is present with probability 0.6 (at least one per sample) and each label is masked
with probability 0.2, so every batch exercises missing modalities and label masks. Samples have the
layout ClimbDataset yields and are batched by the loaders' own collate.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from climb.loaders.collate import collate
from climb.loaders.decode import TaskSpec
from climb.schemas.tasks import Task, get_task

MODALITIES = ("image", "signal", "video", "volume", "graph", "tabular", "text")
WORDS = ("alpha", "bravo", "charlie", "delta", "echo")
TASKS = (
    get_task("eeg_abnormal"),  # binary: c >= 3
    get_task("sleep_stage"),  # multiclass: c
    get_task("ecg_harmonized"),  # multilabel: one-hot of c in the first 5 classes, c odd, always-masked last
    Task(name="fixture_score", type="regression", units="a.u."),  # c as a float
)


SPECS = {t.name: TaskSpec(t.name, t.type, len(t.classes)) for t in TASKS}


def synthetic_sample(seed: int, index: int, modalities: tuple[str, ...] = MODALITIES) -> dict:
    """One sample as ClimbDataset yields it: __key__, meta, one entry per present field, label tensors."""
    rng = np.random.default_rng([seed, index])
    c = int(rng.integers(5))
    present = [m for m in modalities if rng.random() < 0.6] or [modalities[int(rng.integers(len(modalities)))]]
    sample: dict = {"__key__": f"s{seed}-{index:06d}", "meta": {"modalities": present}}
    if "image" in present:
        image = rng.integers(0, 50, (16, 16), dtype=np.uint8)
        image[6:10, 3 * c:3 * c + 4] = 250
        sample["image"] = torch.from_numpy(image)
    if "signal" in present:
        t = np.linspace(0, 1, 64, dtype=np.float32)
        wave = np.sin(2 * np.pi * (c + 1) * t + rng.uniform(0, 6.28, (3, 1)))
        sample["signal"] = torch.from_numpy((wave + 0.1 * rng.standard_normal((3, 64))).astype(np.float32))
    if "video" in present:
        video = rng.integers(0, 50, (4, 16, 16, 3), dtype=np.uint8)
        for f in range(4):
            video[f, 3 * c:3 * c + 4, 4 * f:4 * f + 4] = 250
        sample["video"] = torch.from_numpy(video)
    if "volume" in present:  # two patches, as the loaders' VolumePatches transform cuts them
        patches = rng.integers(-100, 100, (2, 8, 8, 8)).astype(np.int16)
        patches[:, c:c + 3] += 1000
        sample["volume_patches"] = torch.from_numpy(patches)
    if "graph" in present:
        n = 3 + c
        x = rng.standard_normal((n, 7)).astype(np.float32)
        x[:, 0] = c
        ring = np.arange(n)
        edge_index = np.concatenate([np.stack([ring, np.roll(ring, 1)]), np.stack([np.roll(ring, 1), ring])], 1)
        sample["graph"] = {
            "x": torch.from_numpy(x),
            "edge_index": torch.from_numpy(edge_index.astype(np.int64)),
            "edge_attr": torch.ones(2 * n, 4),
        }
    if "tabular" in present:
        sample["tabular"] = {"score": c + 0.1 * float(rng.standard_normal()), "noise": float(rng.standard_normal()),
                             "lab": None if rng.random() < 0.5 else 4.2, "sex": ("F", "M")[int(rng.integers(2))]}
    if "text" in present:
        sample["text"] = f"report: finding {WORDS[c]} noted"
    labels = {"eeg_abnormal": int(c >= 3), "sleep_stage": c, "fixture_score": float(c),
              "ecg_harmonized": [int(c == k) for k in range(5)] + [c % 2, None]}
    for name in ("eeg_abnormal", "sleep_stage", "fixture_score"):
        labels[name] = labels[name] if rng.random() >= 0.2 else None
    labels["ecg_harmonized"] = [v if rng.random() >= 0.2 else None for v in labels["ecg_harmonized"]]
    sample["labels"], sample["label_mask"] = {}, {}
    for name, spec in SPECS.items():
        sample["labels"][name], sample["label_mask"][name] = spec.tensors(labels[name])
    return sample


class SyntheticStream(torch.utils.data.IterableDataset):
    """Endless (or `size`-long) stream of synthetic samples with the loaders' API (loader, state)."""

    def __init__(self, seed: int, size: int | None = None, modalities: tuple[str, ...] = MODALITIES) -> None:
        self.seed, self.size, self.modalities = seed, size, modalities
        self.epoch, self.position = 0, 0

    def __iter__(self):
        while self.size is None or self.position < self.size:
            index = self.epoch * 1_000_000 + self.position
            self.position += 1
            yield synthetic_sample(self.seed, index, self.modalities)
        self.position = 0

    def loader(self, batch_size: int, num_workers: int = 0, **kwargs) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(self, batch_size=batch_size, num_workers=num_workers, collate_fn=collate, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.position = epoch, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = state["epoch"], state["position"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run faster on one thread, and the suite shares two cores with other tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def batch() -> dict:
    """12 samples, every modality, some absent, some labels masked."""
    return collate([synthetic_sample(0, i) for i in range(12)])
