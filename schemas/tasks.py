"""The task registry: every label climb writes belongs to a named task with a fixed class list.

Sources never invent label spaces: they map their raw labels through a task's per-source mapping.
Matching is exact and case-insensitive after trimming; a raw label that maps nowhere is reported
(kept in metadata) and masked, never replaced by a guessed class (the CLIMB reference code's
random-class fallback is the mistake this avoids).

Label values, by task type:
    binary      0 or 1, or None (masked)
    multiclass  class index, or None
    multilabel  list of len(classes), each 0, 1 or None (per-class mask)
    regression  float, or None

Task definitions live in small per-family modules (schemas/task_defs/*.py) and are merged here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

TASK_TYPES = ("binary", "multiclass", "multilabel", "regression")


def norm_code(code: Any) -> str:
    """Normalise a raw label for lookup: trimmed, case-folded string."""
    return str(code).strip().casefold()


@dataclass(frozen=True)
class Task:
    """One prediction target shared across sources.

    Args:
        name: registry key, also the key in sample["labels"].
        type: one of TASK_TYPES.
        classes: class names in index order (empty for regression).
        description: what the label means, in a sentence.
        source_maps: source name -> {raw label -> class name or tuple of class names}.
        units: units of a regression target.
        zero_shot: own class name -> "other_task/class" naming the same finding in another task. Links
            are symmetric: they let `climb evaluate` score this task zero-shot with heads pretrained on
            the other task, and the other task with heads pretrained on this one.
    """

    name: str
    type: str
    classes: tuple[str, ...] = ()
    description: str = ""
    source_maps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    units: str | None = None
    zero_shot: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in TASK_TYPES:
            raise ValueError(f"task {self.name}: type must be one of {TASK_TYPES}, got {self.type!r}")
        if self.type != "regression" and not self.classes:
            raise ValueError(f"task {self.name}: a {self.type} task needs classes")
        if self.type == "binary" and len(self.classes) != 2:
            raise ValueError(f"task {self.name}: a binary task has exactly 2 classes")
        # A typo in a source map must fail at import, not on the first record that carries the code.
        known = {norm_code(c) for c in self.classes}
        for source, table in self.source_maps.items():
            for code, target in table.items():
                targets = (target,) if isinstance(target, str) else tuple(target)
                bad = [t for t in targets if norm_code(t) not in known]
                if bad:
                    raise ValueError(f"task {self.name}: source {source!r} maps {code!r} to unknown class(es) {bad}")
        for cls, link in self.zero_shot.items():
            if norm_code(cls) not in known or link.count("/") != 1:
                raise ValueError(f"task {self.name}: zero_shot {cls!r} -> {link!r} needs one of its classes -> 'task/class'")

    def class_index(self, name: str) -> int:
        lookup = {norm_code(c): i for i, c in enumerate(self.classes)}
        key = norm_code(name)
        if key not in lookup:
            raise KeyError(f"task {self.name} has no class {name!r}; classes are {list(self.classes)}")
        return lookup[key]

    def lookup(self, source: str) -> dict[str, tuple[str, ...]]:
        """The source's raw-label map, normalised: raw code -> tuple of class names."""
        raw = self.source_maps.get(source, {})
        return {norm_code(k): (v,) if isinstance(v, str) else tuple(v) for k, v in raw.items()}

    def map_codes(self, source: str, codes: Iterable[Any]) -> tuple[Any, list[str]]:
        """Map a set of raw codes to this task's label value.

        For multilabel tasks, classes hit by any code are 1 and the rest 0 when at least one code
        was mapped; with no mapped code the whole vector is masked (None), since absence of a
        mapped code says nothing about the classes. For binary/multiclass tasks, exactly one
        distinct class must result, else the label is masked.

        Returns:
            (label value, raw codes that matched nothing).
        """
        table = self.lookup(source)
        hit: set[str] = set()
        unmapped: list[str] = []
        for code in codes:
            key = norm_code(code)
            if key in table:
                hit.update(table[key])
            else:
                unmapped.append(str(code).strip())
        if self.type == "multilabel":
            if not hit:
                return [None] * len(self.classes), unmapped
            idx = {self.class_index(c) for c in hit}
            return [1 if i in idx else 0 for i in range(len(self.classes))], unmapped
        if self.type in ("binary", "multiclass"):
            if len(hit) != 1:
                return None, unmapped
            return self.class_index(next(iter(hit))), unmapped
        raise TypeError(f"task {self.name}: regression targets are not mapped from codes")

    def check(self, value: Any) -> tuple[str, str] | None:
        """(expected, got) if value is not a valid label of this task, else None."""
        if value is None:
            return None
        if self.type == "regression":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return ("a finite number or None", repr(value))
            return None
        if self.type == "multilabel":
            if not isinstance(value, (list, tuple)) or len(value) != len(self.classes):
                return (f"a list of {len(self.classes)} values in {{0, 1, None}}", repr(value))
            if any(not (v is None or (type(v) is int and v in (0, 1))) for v in value):
                return ("values in {0, 1, None}", repr(value))
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(self.classes):
            return (f"a class index in [0, {len(self.classes)})", repr(value))
        return None

    def mask(self, value: Any) -> Any:
        """The label mask: True where the label is known (per class for multilabel)."""
        if self.type == "multilabel":
            if value is None:
                return [False] * len(self.classes)
            return [v is not None for v in value]
        return value is not None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "classes": list(self.classes), "description": self.description, "units": self.units}


def _collect() -> dict[str, Task]:
    from climb.schemas.task_defs import ALL_TASKS

    registry: dict[str, Task] = {}
    for task in ALL_TASKS:
        if task.name in registry:
            raise ValueError(f"task {task.name} is defined twice")
        registry[task.name] = task
    for task in ALL_TASKS:
        for link in task.zero_shot.values():
            other, _, cls = link.partition("/")
            if other not in registry or norm_code(cls) not in {norm_code(c) for c in registry[other].classes}:
                raise ValueError(f"task {task.name}: zero_shot link {link!r} names no registered task class")
    return registry


TASKS: dict[str, Task] = _collect()


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]
