"""Task heads: one linear layer per task of the registry, sized by the task's type and class list.

Heads are linear on purpose: the fused embedding has to carry the information, which keeps the
comparison of fusion types (and of single-task vs multitask training) about the representation.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from climb.schemas.tasks import Task


def output_size(task: Task) -> int:
    """Logits per sample: one per class for multiclass/multilabel, one for binary and regression."""
    return len(task.classes) if task.type in ("multiclass", "multilabel") else 1


class TaskHeads(nn.Module):
    """Maps a fused embedding [B, dim] to logits per task: [B] (binary, regression) or [B, K].

    Regression heads answer in the task's own units (mL, years) as `mean + std * linear(x)`, with the
    train split's moments kept as buffers (saved with the weights). Targets of very different scales
    (ejection fraction in %, volumes in mL) then weigh alike in a multitask loss computed on the
    standardized values (`standardized`), and nobody has to undo a scaling to read a prediction.
    """

    def __init__(self, tasks: Sequence[Task], dim: int, scales: Mapping[str, tuple[float, float]] | None = None) -> None:
        super().__init__()
        self.tasks = {t.name: t for t in tasks}
        self.heads = nn.ModuleDict({t.name: nn.Linear(dim, output_size(t)) for t in tasks})
        scales = scales or {}
        for t in tasks:
            if t.type == "regression":
                mean, std = scales.get(t.name, (0.0, 1.0))
                self.register_buffer(f"mean_{t.name}", torch.tensor(float(mean)))
                self.register_buffer(f"std_{t.name}", torch.tensor(float(std)))

    def scale(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) of a regression task's targets."""
        return getattr(self, f"mean_{name}"), getattr(self, f"std_{name}")

    def standardized(self, name: str, values: torch.Tensor) -> torch.Tensor:
        """A regression task's values (predictions or targets) in units of its train-split std."""
        mean, std = self.scale(name)
        return (values.float() - mean) / std

    def forward(self, fused: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for name, head in self.heads.items():
            logits = head(fused)
            if self.tasks[name].type == "regression":
                mean, std = self.scale(name)
                out[name] = mean + std * logits.squeeze(1)
            else:
                out[name] = logits.squeeze(1) if self.tasks[name].type == "binary" else logits
        return out


def predict(task: Task, logits: torch.Tensor) -> torch.Tensor:
    """Scores for metrics: P(positive) [B] for binary, class probabilities [B, K] for multiclass,
    per-class probabilities [B, K] for multilabel, the value [B] for regression."""
    if task.type == "multiclass":
        return torch.softmax(logits.float(), 1)
    if task.type == "regression":
        return logits.float()
    return torch.sigmoid(logits.float())
