"""Zero-shot transfer: score a task the encoder never trained on with heads pretrained on other tasks.

A class of the new task can be scored only if the task registry says which pretrained class names
the same finding: `Task.zero_shot` links ("MI" of ecg_superclass is "mi" of ecg_harmonized). Links
are read as an equivalence (symmetric and transitive), and a task is trivially linked to itself.
Nothing is guessed from similar-looking names; a task with no linked class is refused.

Each linked class is scored one-vs-rest with the probability the pretrained head gives its linked
class; classes without a link are left out of the metrics (the report lists them). The target task's
own head is never used, even when the encoder was pretrained on it (evaluating such a task needs
--allow-seen): reading it would be supervised prediction, not zero-shot transfer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from climb.schemas.tasks import TASKS, Task, norm_code
from climb.trainer.fewshot import one_vs_rest
from climb.trainer.heads import predict
from climb.trainer.metrics import auroc


class NoMappedClasses(ValueError):
    """The task has no class linked to a class the encoder was pretrained on."""


@dataclass(frozen=True)
class ClassLink:
    """Target class `target_index` is scored by class `class_index` of pretrained task `task`."""

    target_index: int
    task: str
    class_index: int

    def describe(self, tasks: Mapping[str, Task]) -> str:
        return f"{self.task}/{tasks[self.task].classes[self.class_index]}"


def _key(task: str, cls: str) -> tuple[str, str]:
    return task, norm_code(cls)


def equivalents(task: str, cls: str, registry: Mapping[str, Task] = TASKS) -> set[tuple[str, str]]:
    """Every (task, normalised class) linked to (task, cls) through the registry's zero_shot links."""
    edges: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for t in registry.values():
        for own, link in t.zero_shot.items():
            other, _, other_cls = link.partition("/")
            a, b = _key(t.name, own), _key(other, other_cls)
            edges.setdefault(a, set()).add(b)
            edges.setdefault(b, set()).add(a)
    seen, todo = {_key(task, cls)}, [_key(task, cls)]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def class_links(target: Task, pretrained: Sequence[Task], registry: Mapping[str, Task] = TASKS) -> list[ClassLink | None]:
    """For each class of `target`, the pretrained class of another task that scores it (None = no link).

    The first linked task by name; never the target's own head.
    """
    heads = {t.name: {norm_code(c): i for i, c in enumerate(t.classes)} for t in pretrained if t.name != target.name}
    links: list[ClassLink | None] = []
    for index, cls in enumerate(target.classes):
        found = sorted(equivalents(target.name, cls, registry))
        hit = next(((task, heads[task][c]) for task, c in found if c in heads.get(task, {})), None)
        links.append(ClassLink(index, *hit) if hit else None)
    return links


def zero_shot_links(target: Task, pretrained: Sequence[Task], registry: Mapping[str, Task] = TASKS) -> list[ClassLink | None]:
    """class_links, refusing a task none of whose classes is linked (NoMappedClasses says why)."""
    if target.type == "regression":
        raise NoMappedClasses(f"task {target.name} is a regression task: zero-shot transfer maps classes, it has none")
    links = class_links(target, pretrained, registry)
    if not any(links):
        names = ", ".join(t.name for t in pretrained) or "no task"
        raise NoMappedClasses(
            f"task {target.name}: none of its classes {list(target.classes)} maps to a class the encoder was "
            f"pretrained on ({names}); zero-shot needs `zero_shot` links in the task registry "
            f"(schemas/task_defs/), or run without zero-shot (--methods probe,kshot-finetune,kshot-probe)")
    return links


def zero_shot_scores(links: Sequence[ClassLink | None], logits: Mapping[str, torch.Tensor], tasks: Mapping[str, Task]) -> np.ndarray:
    """float64 [B, K_target]: probability of each linked class from the pretrained heads' logits; NaN if unlinked."""
    size = len(next(iter(logits.values())))
    scores = np.full((size, len(links)), np.nan)
    for link in links:
        if link is None:
            continue
        task = tasks[link.task]
        p = predict(task, logits[link.task]).detach().cpu().double().numpy()
        if task.type == "binary":
            scores[:, link.target_index] = p if link.class_index == 1 else 1 - p
        else:
            scores[:, link.target_index] = p[:, link.class_index]
    return scores


def _f1(pred: np.ndarray, true: np.ndarray) -> float | None:
    denominator = int(pred.sum()) + int(true.sum())
    return None if denominator == 0 else 2 * int((pred & true).sum()) / denominator


def _macro(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def zero_shot_metrics(task: Task, scores: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> dict[str, float | int | None]:
    """Macro AUROC and F1 (threshold 0.5) over the linked classes, one-vs-rest; n = labelled samples."""
    y, known = one_vs_rest(task, labels, mask)
    linked = [k for k in range(scores.shape[1]) if not np.isnan(scores[:, k]).all()]
    per_class = [(scores[known[:, k], k], y[known[:, k], k].astype(bool)) for k in linked]
    return {"auroc": _macro([auroc(s, t) for s, t in per_class]),
            "macro_f1": _macro([_f1(s >= 0.5, t) for s, t in per_class]),
            "n": int(known.any(1).sum())}
