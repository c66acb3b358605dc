"""Which datasets and tasks a pretraining run keeps, given what it holds out for transfer evaluation.

Holding out is how a user tests transfer honestly: a config can list every dataset and task, and
`holdout_datasets` / `holdout_tasks` remove some from pretraining so `climb evaluate` can later adapt
the encoders to them. A held-out name that matches nothing is an error, not a silent no-op: a typo
would otherwise leak the "held-out" data into pretraining.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from climb.loaders.shards import dataset_root


def held_in_datasets(urls: Sequence[str], sources: Sequence[str], holdout: Iterable[str]) -> list[int]:
    """Indices of the datasets to pretrain on.

    Args:
        urls: dataset or manifest URLs, as configured.
        sources: each dataset's source name (manifest["source"]).
        holdout: entries naming a dataset by URL (the folder or its manifest.json) or by source name.

    Raises:
        ValueError: an entry matches no dataset, or every dataset is held out.
    """
    roots = [dataset_root(u) for u in urls]
    holdout = list(holdout)
    unknown = [h for h in holdout if dataset_root(h) not in roots and h not in sources]
    if unknown:
        raise ValueError(f"holdout_datasets {unknown} match no dataset; datasets are {list(urls)} (sources {list(sources)})")
    names = {dataset_root(h) for h in holdout} | set(holdout)
    keep = [i for i, (root, source) in enumerate(zip(roots, sources)) if root not in names and source not in names]
    if not keep:
        raise ValueError("every dataset is held out: nothing is left to pretrain on")
    return keep


def training_tasks(chosen: Sequence[str], labelled: Iterable[str], known: Iterable[str], holdout: Sequence[str]) -> tuple[str, ...]:
    """The tasks to pretrain: `chosen` (or, if empty, every task the kept datasets label) minus `holdout`.

    Args:
        chosen: Config.tasks.
        labelled: tasks the kept datasets label.
        known: every task name holdout entries may use (the registry and all manifests, held out or not).
        holdout: Config.holdout_tasks.

    Raises:
        ValueError: a held-out task is unknown.
    """
    known = set(known)
    unknown = [t for t in holdout if t not in known]
    if unknown:
        raise ValueError(f"holdout_tasks {unknown} are not tasks of the registry or of the datasets")
    base = tuple(chosen) if chosen else tuple(sorted(set(labelled)))
    return tuple(t for t in base if t not in set(holdout))
