"""Losses: masked per-task supervised losses, their weighted sum, and InfoNCE between modalities.

A label is used only where its mask is True. Masked entries may hold anything (0, -1, NaN): they are
replaced before the loss is computed, so a NaN placeholder can never leak into the gradient. A task
with no labelled sample in the batch contributes an exact zero that is still connected to the graph
(every parameter gets a gradient, which DDP requires).
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch
import torch.nn.functional as F

from climb.schemas.tasks import Task

REGRESSION_LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss}


def task_loss(
    task: Task, logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, regression: str = "mse"
) -> torch.Tensor:
    """Mean loss of one task over its labelled entries.

    Args:
        logits: [B] (binary, regression) or [B, K] (multiclass, multilabel).
        labels: same shape as logits, except multiclass: class indices [B].
        mask: bool, shape of labels; per class for multilabel.
        regression: "mse" or "l1", on the values as given (standardize them first, see
            multitask_loss, so that a task in mL does not outweigh one in %).
    """
    logits = logits.float()
    mask = mask.bool()
    count = mask.sum()
    if count == 0:
        return logits.sum() * 0.0
    if task.type == "multiclass":
        target = labels.long().masked_fill(~mask, -100)
        return F.cross_entropy(logits, target, ignore_index=-100, reduction="sum") / count
    target = torch.where(mask, labels.float(), torch.zeros_like(logits))
    if task.type == "regression":
        per_entry = REGRESSION_LOSSES[regression](logits, target, reduction="none")
    else:
        per_entry = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return torch.where(mask, per_entry, torch.zeros_like(per_entry)).sum() / count


def multitask_loss(
    tasks: Mapping[str, Task],
    logits: Mapping[str, torch.Tensor],
    labels: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    weights: Mapping[str, float] | None = None,
    regression: str = "mse",
    standardize: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted sum over tasks of `task_loss` (weight 1 unless given); also returns each task's loss.

    `standardize(task_name, values)` maps a regression task's predictions and targets alike into
    standard units before the loss (TaskHeads.standardized); without it the raw values are used.
    """
    weights = weights or {}

    def pair(name: str, task: Task) -> tuple[torch.Tensor, torch.Tensor]:
        if task.type == "regression" and standardize is not None:
            return standardize(name, logits[name]), standardize(name, labels[name])
        return logits[name], labels[name]

    per_task = {name: task_loss(task, *pair(name, task), masks[name], regression) for name, task in tasks.items()}
    total = sum(weights.get(name, 1.0) * loss for name, loss in per_task.items())
    return total, per_task


def info_nce(a: torch.Tensor, b: torch.Tensor, both: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Symmetric InfoNCE between two modalities of the same samples (CLIP-style).

    Row i of `a` and row i of `b` are the positive pair; every other sample in the batch is a negative.
    Only samples where both modalities are present take part; with fewer than two there is no negative
    and the loss is a connected zero.

    Args:
        a, b: embeddings [B, D] of two modalities.
        both: bool [B], True where both are present.
        temperature: softmax temperature (CLIMB used 0.07).
    """
    if int(both.sum()) < 2:
        return (a.sum() + b.sum()) * 0.0
    za = F.normalize(a[both].float(), dim=1)
    zb = F.normalize(b[both].float(), dim=1)
    logits = za @ zb.T / temperature
    target = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def contrastive_loss(tokens: torch.Tensor, present: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Mean InfoNCE over all pairs of modalities (tokens [B, M, D], present bool [B, M]).

    Pairs that share fewer than two samples in the batch are left out of the mean.
    """
    losses = []
    m = tokens.shape[1]
    for i in range(m):
        for j in range(i + 1, m):
            both = present[:, i] & present[:, j]
            if int(both.sum()) >= 2:
                losses.append(info_nce(tokens[:, i], tokens[:, j], both, temperature))
    if not losses:
        return tokens.sum() * 0.0
    return torch.stack(losses).mean()
