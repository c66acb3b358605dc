"""The reference model: per-modality encoders -> fusion over each sample's modalities -> task heads.

A batch is `climb.loaders.collate`'s: one entry per field, "<field>_present" bool [B], optional
"<field>_mask" validity masks, "labels" and "label_mask" {task: tensor}. Each encoder runs on the
present rows of its modality only, so a mixed batch of ECGs and X-rays spends no compute on absent
inputs, and absent rows stay exact zeros in the token tensor that fusion masks.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from climb.schemas.tasks import Task
from climb.trainer.backbones import MODALITIES, build
from climb.trainer.fusion import FUSIONS
from climb.trainer.heads import TaskHeads

# Batch field of a modality when it is not the modality's own name: volumes arrive as patches
# (climb.loaders.zarr_patches.VolumePatches, which train.open_data installs for volume datasets).
FIELDS = {"volume": "volume_patches"}


def field_present(batch: dict[str, Any], modality: str) -> torch.Tensor:
    """bool [B] on CPU: which samples of the batch have `modality` (see MultimodalModel.presence)."""
    field = FIELDS.get(modality, modality)
    if f"{field}_present" in batch:
        return batch[f"{field}_present"].bool().cpu()
    size = len(batch["__key__"])
    return torch.tensor([v is not None for v in batch.get(field, [None] * size)], dtype=torch.bool)


def encode_field(encoder: nn.Module, modality: str, batch: dict[str, Any], rows: torch.Tensor, size: int) -> torch.Tensor:
    """Embeddings [len(rows), dim] of the batch rows `rows` (which have `modality`), by `encoder`.

    Each field is called the way its encoder takes it; also used on a lone encoder (climb evaluate/embed).
    """
    value = batch[FIELDS.get(modality, modality)]
    if modality == "graph":
        # One disjoint graph for the whole batch; its batch vector indexes samples in [0, B).
        return encoder(value["x"], value["edge_index"], value.get("edge_attr"), value["batch"], size)[rows]
    if modality in ("text", "tabular"):
        return encoder([value[i] for i in rows.tolist()])
    mask = batch.get(f"{modality}_mask")
    if mask is None:
        return encoder(value[rows])
    return encoder(value[rows], mask[rows])


class MultimodalModel(nn.Module):
    """Encoders for `modalities`, one fusion of type `fusion`, one head per task.

    Args:
        modalities: schema fields the model reads, in token order.
        tasks: registry tasks to predict.
        dim: common embedding size of every encoder, the fusion and the heads.
        fusion: a key of FUSIONS (late, early, cross_attention, gated).
        scales: (mean, std) of each regression task's train targets (TaskHeads).
        preset: encoder sizes, a key of backbones.PRESETS (base, small, tiny).
        encoders: per modality, a backbone spec overriding the preset's (backbones.spec_for).
        channels_last: 2D images reach their backbone in channels_last memory format (GPU speed).
    """

    def __init__(self, modalities: Sequence[str], tasks: Sequence[Task], dim: int = 64, fusion: str = "gated",
                 scales: Mapping[str, tuple[float, float]] | None = None, preset: str = "base",
                 encoders: Mapping[str, Mapping[str, Any]] | None = None, channels_last: bool = False) -> None:
        super().__init__()
        unknown = [m for m in modalities if m not in MODALITIES]
        if unknown or fusion not in FUSIONS:
            raise ValueError(f"unknown modalities {unknown} or fusion {fusion!r}; known: {list(MODALITIES)}, {list(FUSIONS)}")
        extra = sorted(set(encoders or {}) - set(MODALITIES))
        if extra:
            raise ValueError(f"encoder specs for unknown modalities {extra}; modalities are {list(MODALITIES)}")
        self.modalities = tuple(modalities)
        self.dim = dim
        specs = encoders or {}
        self.encoders = nn.ModuleDict({m: build(m, dim, preset, specs.get(m), channels_last) for m in self.modalities})
        self.fusion = FUSIONS[fusion](len(self.modalities), dim)
        self.heads = TaskHeads(tasks, dim, scales)
        # InfoNCE acts in a projected space (as in CLIP), so aligning modalities does not have to
        # erase what each modality knows that the other does not.
        self.projection = nn.Linear(dim, dim)

    def presence(self, batch: dict[str, Any]) -> torch.Tensor:
        """bool [B, M]: which of the model's modalities each sample has.

        Tensor fields come with "<field>_present"; list fields (text, tabular) hold None where absent;
        a field missing from the batch is absent for every sample.
        """
        columns = [field_present(batch, m) for m in self.modalities]
        return torch.stack(columns, 1).to(next(self.parameters()).device)

    def _encode(self, modality: str, batch: dict[str, Any], rows: torch.Tensor, size: int) -> torch.Tensor:
        return encode_field(self.encoders[modality], modality, batch, rows, size)

    def encode(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-modality embeddings: tokens [B, M, dim] (zeros where absent) and present bool [B, M]."""
        present = self.presence(batch)
        size = present.shape[0]
        columns = []
        for j, modality in enumerate(self.modalities):
            rows = present[:, j].nonzero().squeeze(1)
            column = present.new_zeros(size, self.dim, dtype=torch.float32)
            if len(rows):
                # float32 whatever autocast chose, so present and absent columns stack together.
                embedded = self._encode(modality, batch, rows, size).float()
                column = column.index_copy(0, rows, embedded)
            columns.append(column)
        return torch.stack(columns, 1), present

    def forward(self, batch: dict[str, Any]) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Returns (logits per task, projected tokens [B, M, dim] for the contrastive loss, present [B, M])."""
        tokens, present = self.encode(batch)
        logits = self.heads(self.fusion(tokens, present))
        return logits, self.projection(tokens), present
