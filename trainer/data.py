"""What feeds the training loop: the train and val streams over the manifests, and regression scales.

`open_data` opens every dataset's train split (mixed by `weights`, sharded by rank) and val split,
leaving out the held-out datasets and tasks; `batches` turns the train stream into batches forever,
one epoch after another; `target_scales` standardises regression targets from the manifests' moments.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from climb.schemas.tasks import Task, get_task
from climb.trainer.backbones import MODALITIES
from climb.trainer.config import Config, expand_views


@dataclass
class Data:
    """What the loop trains on: streams with the loaders' API (loader, set_epoch, state_dict,
    load_state_dict) and the model's inputs and outputs."""

    train: Any  # the training stream, e.g. a MixedDataset
    val: Callable[[int, int], Any] | None  # (rank, world size) -> a fresh val stream: every pass sees the same samples
    modalities: tuple[str, ...]
    tasks: tuple[Task, ...]
    manifests: tuple[dict, ...] = ()  # {url, source, split, sha256, schema_version, source_fingerprint} per training dataset
    scales: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)  # regression (mean, std)


def open_data(cfg: Config, rank: int, world_size: int) -> Data:
    """A MixedDataset over the manifests' train splits (mixed by `weights`) and one over their val splits,
    without the held-out datasets and tasks."""
    from climb.loaders import ClimbDataset, MixedDataset
    from climb.loaders.zarr_patches import VolumePatches
    from climb.schemas.tasks import TASKS
    from climb.storage import storage_options
    from climb.trainer.holdout import held_in_datasets, training_tasks

    if not cfg.datasets:
        raise ValueError("no datasets: give manifest URLs on the command line or `datasets` in the config")
    cfg = expand_views(cfg)
    filters = dict(zip(cfg.datasets, cfg.filters or [""] * len(cfg.datasets)))

    def one(url: str, split: str, shuffle: bool, modalities: tuple[str, ...] | None, tasks: tuple[str, ...] | None) -> ClimbDataset:
        return ClimbDataset(url, split=split, seed=cfg.seed, shuffle=shuffle, modalities=modalities,
                            tasks=tasks, storage_options=storage_options(url, cfg.s3_endpoint or None),
                            where=filters[url] or None)

    opened = [one(u, "train", True, cfg.modalities or None, cfg.tasks or None) for u in cfg.datasets]
    keep = held_in_datasets(cfg.datasets, [d.info.manifest["source"] for d in opened], cfg.holdout_datasets)
    urls, weights = [cfg.datasets[i] for i in keep], [cfg.weights[i] for i in keep] if cfg.weights else None
    tables = [d.info.manifest.get("tasks", {}) for d in opened]
    tasks = training_tasks(cfg.tasks, [t for i in keep for t in tables[i]], [*TASKS, *(t for table in tables for t in table)],
                           cfg.holdout_tasks)
    if not tasks and not cfg.contrastive_weight:
        raise ValueError("no task is left to train (all held out) and contrastive_weight is 0: nothing to learn")
    # The fields the kept sources write; the datasets are reopened to read only those members.
    modalities = cfg.modalities or tuple(dict.fromkeys(
        m for i in keep for m in opened[i].carried_modalities() if m in MODALITIES))
    parts = [one(u, "train", True, modalities, tasks) for u in urls]
    patches = (VolumePatches(cfg.volume_patch, cfg.volume_patches, storage_options("s3://", cfg.s3_endpoint or None))
               if "volume" in modalities else None)  # the options reach only s3:// volumes
    train = MixedDataset(parts, weights=weights, seed=cfg.seed, rank=rank, world_size=world_size, transform=patches)
    with_val = [u for u, d in zip(urls, parts) if d.info.manifest["splits"].get("val", {}).get("num_samples")]

    def val(rank: int, world_size: int) -> MixedDataset:  # each rank reads its share of every dataset's val split
        return MixedDataset([one(u, "val", False, modalities, tasks) for u in with_val], seed=cfg.seed, rank=rank,
                            world_size=world_size, transform=patches)

    manifests = tuple({"url": d.info.url, "source": d.info.manifest["source"], "split": d.info.split,
                       "sha256": d.info.sha256, "schema_version": d.info.manifest.get("schema_version"),
                       "source_fingerprint": d.info.manifest.get("source_fingerprint")} for d in parts)
    scales = target_scales([d.info.manifest for d in parts], train.tasks)
    return Data(train, val if with_val else None, modalities, tuple(get_task(t) for t in train.tasks), manifests, scales)


def target_scales(manifests: Sequence[dict], tasks: Sequence[str]) -> dict[str, tuple[float, float]]:
    """(mean, std) of each regression task's targets over the train splits of all manifests, pooled.

    From the manifests' per-split moments, so no label of a val or test split shapes training and
    nothing has to be read before the first step. A constant target (e.g. a single train label) is
    centred on its value with unit scale; a task without train labels keeps (0, 1).
    """
    out: dict[str, tuple[float, float]] = {}
    for name in tasks:
        if get_task(name).type != "regression":
            continue
        parts = [(s["known"], s["mean"], s["std"]) for m in manifests
                 if (s := m.get("tasks", {}).get(name, {}).get("split_summary", {}).get("train")) and s["known"]]
        total = sum(n for n, _, _ in parts)
        if not total:
            out[name] = (0.0, 1.0)
            continue
        mean = sum(n * mu for n, mu, _ in parts) / total
        var = sum(n * (sd * sd + mu * mu) for n, mu, sd in parts) / total - mean * mean
        std = math.sqrt(max(var, 0.0))
        out[name] = (mean, std if std > 0 else 1.0)
    return out


def batches(data: Data, cfg: Config, epoch: int, pin_memory: bool = False) -> Iterator[tuple[int, dict]]:
    """Training batches forever, as (epoch, batch); each new epoch reshuffles through set_epoch.

    pin_memory (GPU runs) puts batches in page-locked memory, so to_device's non_blocking copies overlap
    with compute. Workers, if any, persist from epoch to epoch where the loaders allow it (no new
    processes, heaps or shared slabs per epoch)."""
    from climb.loaders.transfer import arenas

    persistent = cfg.num_workers > 0 and arenas()
    loader = data.train.loader(batch_size=cfg.batch_size, num_workers=cfg.num_workers, pin_memory=pin_memory,
                               persistent_workers=persistent)
    while True:
        data.train.set_epoch(epoch)
        for batch in loader:
            yield epoch, batch
        epoch += 1
