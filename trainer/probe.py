"""Adapting an encoder to a new task: a linear probe on frozen embeddings, and k-shot fine-tuning.

The probe is a linear layer over standardized embeddings, fitted to convergence with L-BFGS on the
task's own loss plus an L2 penalty: softmax regression for multiclass, logistic regression per class
for binary and multilabel, ridge regression for regression targets (standardized, then mapped back).
The problem is convex and the start is all zeros, so a probe is a deterministic function of its data.

Fine-tuning starts from that probe fitted on the shots' frozen embeddings (linear probing then
fine-tuning: the head is sensible before the encoder moves, so the first gradient steps do not wreck
pretrained features), then trains encoder and head together with AdamW on the shots.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from climb.loaders.collate import collate
from climb.schemas.tasks import Task
from climb.trainer.heads import output_size
from climb.trainer.losses import task_loss
from climb.trainer.model import encode_field, field_present


class LinearProbe(nn.Module):
    """Standardize embeddings [B, D] with fixed statistics, then one linear layer -> task logits."""

    def __init__(self, task: Task, dim: int) -> None:
        super().__init__()
        self.task = task
        self.linear = nn.Linear(dim, output_size(task))
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.register_buffer("target_mean", torch.zeros(()))  # regression targets are fitted standardized
        self.register_buffer("target_scale", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.linear((x - self.mean) / self.scale)
        if self.task.type in ("binary", "regression"):
            logits = logits.squeeze(1)
        if self.task.type == "regression":
            return logits * self.target_scale + self.target_mean
        return logits


def fit_probe(task: Task, x: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, l2: float = 1e-3,
              max_iter: int = 500) -> LinearProbe:
    """A LinearProbe fitted on embeddings x [N, D] (labels and mask as the loaders give them).

    l2 multiplies the squared weights, added to the mean loss over labelled entries.
    """
    x = x.detach().float()
    probe = LinearProbe(task, x.shape[1])
    labelled = mask.bool() if mask.dim() == 1 else mask.bool().any(1)
    if labelled.any():
        probe.mean.copy_(x[labelled].mean(0))
        probe.scale.copy_(x[labelled].std(0, unbiased=False).clamp(min=1e-6))
    if task.type == "regression" and labelled.any():
        y = labels[labelled].float()
        probe.target_mean.copy_(y.mean())
        probe.target_scale.copy_(y.std(unbiased=False).clamp(min=1e-6))
    optimizer = torch.optim.LBFGS(probe.linear.parameters(), lr=1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = probe.linear((x - probe.mean) / probe.scale)
        logits = logits.squeeze(1) if task.type in ("binary", "regression") else logits
        target = (labels.float() - probe.target_mean) / probe.target_scale if task.type == "regression" else labels
        loss = task_loss(task, logits, target, mask) + l2 * probe.linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return probe.eval()


def embed_rows(encoder: nn.Module, modality: str, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeddings [n, D] of the batch rows that have `modality`, those row indices [n])."""
    rows = field_present(batch, modality).nonzero().squeeze(1)
    if not len(rows):
        return torch.zeros(0, 0), rows
    return encode_field(encoder, modality, batch, rows, len(batch["__key__"])).float(), rows


class Adapted(nn.Module):
    """An encoder and a probe head: one modality of a batch -> (task logits, rows that had the modality)."""

    def __init__(self, encoder: nn.Module, modality: str, probe: LinearProbe) -> None:
        super().__init__()
        self.encoder, self.modality, self.probe = encoder, modality, probe

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        embedded, rows = embed_rows(self.encoder, self.modality, batch)
        if not len(rows):  # a batch without the modality: no logits, but of the probe's width
            embedded = embedded.new_zeros(0, self.probe.mean.numel())
        return self.probe(embedded), rows


def finetune(encoder: nn.Module, modality: str, task: Task, shots: Sequence[dict[str, Any]], *, steps: int = 50,
             lr: float = 3e-4, batch_size: int = 16, l2: float = 1e-3, seed: int = 0) -> Adapted:
    """Fine-tune a copy of `encoder` plus a linear head on the shots (decoded samples), deterministically.

    The head starts as the probe fitted on the shots' frozen embeddings; then `steps` AdamW steps on
    random mini-batches of the shots (drawn from a generator seeded by `seed`) train both.
    """
    encoder = copy.deepcopy(encoder).eval()
    with torch.no_grad():
        batch = collate(list(shots))
        embedded, rows = embed_rows(encoder, modality, batch)
    labels, mask = batch["labels"][task.name][rows], batch["label_mask"][task.name][rows]
    model = Adapted(encoder, modality, fit_probe(task, embedded, labels, mask, l2))
    torch.manual_seed(seed)
    generator = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    for _ in range(steps):
        picked = generator.choice(len(shots), size=min(batch_size, len(shots)), replace=False)
        batch = collate([shots[i] for i in sorted(picked)])
        logits, rows = model(batch)
        loss = task_loss(task, logits, batch["labels"][task.name][rows], batch["label_mask"][task.name][rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()
