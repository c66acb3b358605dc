"""`MixedDataset`: several converted datasets streamed as one, in deterministic weighted proportions.

    ecg = ClimbDataset(".../ptbxl", modalities=("signal",))
    cxr = ClimbDataset(".../chexpert", modalities=("image",))
    mix = MixedDataset([ecg, cxr], temperature=2.0)      # or weights=[1, 3]
    loader = mix.loader(batch_size=32, num_workers=2)

Each position of a mixed epoch is assigned to a dataset by plan.mix_schedule (exact proportions,
smoothly interleaved); dataset d's k-th position is sample k of its own shuffled order, continuing
into a freshly shuffled pass (a new `cycle`) when a small dataset is exhausted before the epoch
ends. Partitioning, resuming, decoding and progress tracking are the same as ClimbDataset's, so a
mix resumes exactly on any world size. Labels are the union of the datasets' tasks, masked where a
sample's dataset does not define them; fields a dataset lacks come out as `<field>_present` False.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from climb.loaders.decode import task_specs
from climb.loaders.io import RetryPolicy
from climb.loaders.plan import manifest_key, mix_schedule, temperature_probs
from climb.loaders.stream import ClimbDataset, Stream, Transform


class MixedDataset(Stream):
    """Weighted deterministic mix of ClimbDatasets (their split, modalities, storage and cache are used;
    their seeds and ranks are not: the mix has its own).

    Args:
        datasets: the datasets to mix.
        weights: relative sampling weights (exclusive with temperature).
        temperature: p_d proportional to size_d ** (1 / T); default 1 (proportional to size).
        samples_per_epoch: length of a mixed epoch; default the sum of the datasets' sizes.
        seed, rank, world_size, batch_size, tail, on_error, transform, retry: as ClimbDataset.
        tasks: label tasks; None takes the union of the datasets' tasks.
    """

    def __init__(self, datasets: Sequence[ClimbDataset], weights: Sequence[float] | None = None,
                 temperature: float | None = None, samples_per_epoch: int | None = None, seed: int = 0,
                 rank: int | None = None, world_size: int | None = None, *, batch_size: int | None = None,
                 tail: str = "wrap", tasks: Sequence[str] | None = None, on_error: str = "raise",
                 transform: Transform | None = None, retry: RetryPolicy = RetryPolicy()):
        super().__init__(seed, rank, world_size, batch_size, tail, on_error, transform, retry)
        if not datasets:
            raise ValueError("MixedDataset needs at least one dataset")
        if weights is not None and temperature is not None:
            raise ValueError("give weights or temperature, not both")
        self.datasets = list(datasets)
        sizes = [d.epoch_length() for d in self.datasets]
        if weights is not None:
            if len(weights) != len(self.datasets):
                raise ValueError(f"{len(weights)} weights for {len(self.datasets)} datasets")
            probs = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
        else:
            probs = temperature_probs(sizes, temperature or 1.0)
        empty = [d.info.url for d, n, p in zip(self.datasets, sizes, probs) if p > 0 and n == 0]
        if empty:
            raise ValueError(f"datasets with a positive weight but no samples in their split: {empty}")
        self.probs = probs
        self.length = int(samples_per_epoch if samples_per_epoch is not None else sum(sizes))
        if tasks is None:
            self.tasks = {name: spec for d in self.datasets for name, spec in d.tasks.items()}
        else:
            self.tasks = task_specs([d.info.manifest.get("tasks", {}) for d in self.datasets], tuple(tasks))
        self.sources = [src for d in self.datasets for src in d.sources]
        joined = "".join(d.info.sha256 for d in self.datasets)
        self.key = manifest_key(hashlib.sha256(joined.encode("ascii")).hexdigest())

    @classmethod
    def from_view(cls, view_url: str, split: str = "train", *, storage_options: dict[str, Any] | None = None,
                  modalities: Sequence[str] | None = None, seed: int = 0, shuffle: bool = True,
                  dataset_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> MixedDataset:
        """The samples a view file selects in one split, mixed by the view's weights.

        Held-out datasets are left out and held-out tasks are not returned; a dataset with nothing
        selected in this split takes no part. A pinned view refuses catalogs that changed.

        Args:
            view_url: a view file (docs/views.md), local or s3://.
            dataset_kwargs: passed to each ClimbDataset (cache_dir, shuffle_window, ...).
            kwargs: passed to MixedDataset (rank, world_size, batch_size, tail, ...).
        """
        from climb.loaders.views import dataset_root, load_view

        view = load_view(view_url, storage_options)
        parts, weights = [], []
        for d in view.datasets:
            if dataset_root(d.url).rsplit("/", 1)[-1] in view.holdout_datasets:
                continue
            where = " and ".join(f"({w})" for w in (view.where, d.where) if w) or "True"
            try:
                ds = ClimbDataset(d.url, split=split, seed=seed, shuffle=shuffle, modalities=modalities,
                                  storage_options=storage_options, where=where, catalog_sha256=d.catalog_sha256,
                                  **(dataset_kwargs or {}))
            except KeyError:
                continue  # the dataset has no such split
            if ds.epoch_length():
                parts.append(ds)
                weights.append(d.weight)
        if not parts:
            raise ValueError(f"view {view_url} selects no sample of split {split!r}")
        tasks = kwargs.pop("tasks", None)
        if tasks is None and view.holdout_tasks:
            tasks = sorted({t for ds in parts for t in ds.tasks} - set(view.holdout_tasks))
        return cls(parts, weights=weights, seed=seed, tasks=tasks, **kwargs)

    def epoch_length(self) -> int:
        return self.length

    def schedule(self) -> tuple[np.ndarray, np.ndarray]:
        """(dataset [L], occurrence [L]) of the current epoch."""
        return mix_schedule(self.probs, self.length, self.seed, self.epoch, self.key)

    def reads(self, positions: np.ndarray) -> np.ndarray:
        which, occurrence = self.schedule()
        which, occurrence = which[positions], occurrence[positions]
        out = np.zeros((len(positions), 3), dtype=np.int64)
        out[:, 0] = which
        for d, ds in enumerate(self.datasets):
            mine = np.flatnonzero(which == d)
            if not len(mine):
                continue
            size = ds.epoch_length()
            cycles, within = np.divmod(occurrence[mine], size)
            for cycle in set(cycles.tolist()):  # not np.unique: it imports numpy.ma in every new worker (shards.distinct)
                order = ds.order(self.epoch, int(cycle), self.seed, self.world().world_size)
                hit = cycles == cycle
                out[mine[hit], 1:] = order[within[hit]]
        return out

    def in_stored_order(self) -> bool:
        return not any(d.shuffle for d in self.datasets)

    def shuffle_state(self, world_size: int) -> list[list[int]]:
        return [d.shuffle_state(world_size) for d in self.datasets]

    def keep_shuffle(self, recorded: Any) -> None:
        for d, geometry in zip(self.datasets, recorded, strict=True):
            d.keep_shuffle(geometry)

    def identity(self) -> dict[str, Any]:
        return {
            "manifests": [d.info.sha256 for d in self.datasets],
            **({"selections": [[d.where, d.catalog_sha256] for d in self.datasets]}
               if any(d.where is not None for d in self.datasets) else {}),
            "splits": [d.info.split for d in self.datasets],
            "probs": [round(float(p), 12) for p in self.probs],
            "samples_per_epoch": self.length,
        }
