"""Task heads: one linear layer per task of the registry, sized by the task's type and class list.

Heads are linear on purpose: the fused embedding has to carry the information, which keeps the
comparison of fusion types (and of single-task vs multitask training) about the representation.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from climb.schemas.tasks import Task


def output_size(task: Task) -> int:
    """Logits per sample: one per class for multiclass/multilabel, one for binary and regression."""
    return len(task.classes) if task.type in ("multiclass", "multilabel") else 1


class TaskHeads(nn.Module):
    """Maps a fused embedding [B, dim] to logits per task: [B] (binary, regression) or [B, K]."""

    def __init__(self, tasks: Sequence[Task], dim: int) -> None:
        super().__init__()
        self.tasks = {t.name: t for t in tasks}
        self.heads = nn.ModuleDict({t.name: nn.Linear(dim, output_size(t)) for t in tasks})

    def forward(self, fused: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for name, head in self.heads.items():
            logits = head(fused)
            out[name] = logits.squeeze(1) if self.tasks[name].type in ("binary", "regression") else logits
        return out


def predict(task: Task, logits: torch.Tensor) -> torch.Tensor:
    """Scores for metrics: P(positive) [B] for binary, class probabilities [B, K] for multiclass,
    per-class probabilities [B, K] for multilabel, the value [B] for regression."""
    if task.type == "multiclass":
        return torch.softmax(logits.float(), 1)
    if task.type == "regression":
        return logits.float()
    return torch.sigmoid(logits.float())
