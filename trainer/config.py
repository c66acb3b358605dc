"""The configuration of a `climb train` run: the `Config` fields, and how files and --set build one.

A config file (YAML or TOML) holds any fields of `Config`; arguments that are not config files are
manifest URLs (or view files, docs/views.md) appended to `datasets`; `--set key=value` overrides one
field, parsed by the field's type (lists comma-separated, `encoders` as JSON). `expand_views` turns each
view file into the datasets it selects, with their filters, weights and hold-outs.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from climb.trainer.backbones import MODALITIES, PRESETS


@dataclass(frozen=True)
class Config:
    # data
    datasets: tuple[str, ...] = ()  # manifest URLs (path, file:// or s3://) or view files (docs/views.md)
    filters: tuple[str, ...] = ()  # per dataset, a view filter over its catalog ('' = every sample); views fill it
    weights: tuple[float, ...] = ()  # mixing weight per dataset, in `datasets` order; empty = equal
    modalities: tuple[str, ...] = ()  # schema fields to read; empty = every field the manifests hold
    tasks: tuple[str, ...] = ()  # registry tasks to train; empty = every task the manifests label
    task_weights: tuple[float, ...] = ()  # loss weight per task, in `tasks` order; empty = all 1
    holdout_tasks: tuple[str, ...] = ()  # tasks never trained on (kept unseen for `climb evaluate`)
    holdout_datasets: tuple[str, ...] = ()  # datasets (URL or source name) left out of pretraining
    s3_endpoint: str = ""  # endpoint for s3:// manifests; empty = $AWS_ENDPOINT_URL, else AWS
    num_workers: int = 0  # DataLoader workers per rank (0 measured as fast as 2 on a 2-core machine)
    volume_patch: tuple[int, ...] = (32, 64, 64)  # z, y, x size of the patches cut from each 3D volume
    volume_patches: int = 2  # patches per volume per sample (read from Zarr, only the chunks touched)
    # model
    fusion: str = "gated"  # late | early | cross_attention | gated
    dim: int = 64  # embedding size shared by encoders, fusion and heads
    encoder_preset: str = "base"  # encoder sizes: base (reference backbones) | small (CPU runs) | tiny (tests, demo)
    # per modality, a backbone spec replacing the preset's: {factory, kwargs, adapter, out} (trainer/backbones.py);
    # on the command line as JSON: --set 'encoders={"signal": {"kwargs": {"width": 32}}}'
    encoders: dict[str, dict] = dataclasses.field(default_factory=dict)
    # losses
    contrastive_weight: float = 0.0  # weight of InfoNCE between modalities of one sample; 0 = off
    temperature: float = 0.07  # InfoNCE softmax temperature (CLIMB's value)
    regression_loss: str = "mse"  # mse | l1
    # optimisation
    steps: int = 1000  # total optimizer steps
    batch_size: int = 32  # samples per step and rank
    lr: float = 1e-3  # peak learning rate (AdamW), after linear warmup, then cosine to lr / 10
    warmup_steps: int = 50
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # max global gradient norm; 0 = no clipping
    precision: str = "auto"  # auto (bf16 on GPUs that have it, else fp16; fp32 on CPU) | fp32 | bf16 | fp16 (GPU)
    channels_last: bool = False  # 2D images in channels_last memory format (faster convolutions on GPUs)
    seed: int = 0  # seeds model init, per-step randomness and the loaders' shuffle
    # evaluation, logging, checkpoints
    eval_every: int = 200  # steps between validation passes; each also writes the checkpoint
    eval_batches: int = 20  # validation batches per pass, all ranks together; 0 = the whole val split
    log_every: int = 10  # steps between training lines in metrics.jsonl
    out_dir: str = "climb-train"  # local folder for checkpoint.pt and metrics.jsonl
    resume: bool = False  # continue from out_dir/checkpoint.pt when it exists
    stop_at: int = 0  # checkpoint and exit after this step (time-limited jobs); 0 = run all steps
    progress: bool = True  # tqdm progress bar on rank 0

    def __post_init__(self) -> None:
        from climb.trainer.fusion import FUSIONS
        from climb.trainer.losses import REGRESSION_LOSSES

        problems = []
        if self.filters and len(self.filters) != len(self.datasets):
            problems.append(f"{len(self.filters)} filters for {len(self.datasets)} datasets")
        if self.weights and len(self.weights) != len(self.datasets):
            problems.append(f"{len(self.weights)} weights for {len(self.datasets)} datasets")
        if self.task_weights and len(self.task_weights) != len(self.tasks):
            problems.append(f"{len(self.task_weights)} task_weights for {len(self.tasks)} tasks (list the tasks)")
        if set(self.tasks) & set(self.holdout_tasks):
            problems.append(f"tasks {sorted(set(self.tasks) & set(self.holdout_tasks))} are both trained and held out")
        if self.fusion not in FUSIONS:
            problems.append(f"fusion {self.fusion!r} is not one of {sorted(FUSIONS)}")
        if self.encoder_preset not in PRESETS:
            problems.append(f"encoder_preset {self.encoder_preset!r} is not one of {sorted(PRESETS)}")
        if set(self.encoders) - set(MODALITIES):
            problems.append(f"encoders for unknown modalities {sorted(set(self.encoders) - set(MODALITIES))}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision {self.precision!r} is not one of {list(PRECISIONS)}")
        if self.regression_loss not in REGRESSION_LOSSES:
            problems.append(f"regression_loss {self.regression_loss!r} is not one of {sorted(REGRESSION_LOSSES)}")
        if problems:
            raise ValueError("; ".join(problems))


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def _coerce(name: str, kind: Any, value: Any) -> Any:
    """`value` as the type of field `name`, or ValueError; strings are parsed (from --set; dicts as JSON)."""
    if typing.get_origin(kind) is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{name} takes a JSON object on the command line: {exc}") from None
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ValueError(f"{name} takes a mapping of modality -> spec mapping, got {value!r}")
        return value
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name} takes a list, got {value!r}")
        return tuple(_coerce(name, item, v) for v in value)
    if kind is bool:
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
    elif kind is int and not isinstance(value, bool):
        if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
            return int(value)
    elif kind is float and not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif kind is str and isinstance(value, str):
        return value.strip()
    raise ValueError(f"{name} takes {getattr(kind, '__name__', kind)}, got {value!r}")


def _is_view(data: Any) -> bool:
    """A view file (docs/views.md) rather than a trainer config: only view keys, and a view's own marks."""
    from climb.schemas.views import VIEW_KEYS

    if not isinstance(data, dict) or not data or set(data) - VIEW_KEYS:
        return False
    entries = data.get("datasets") or []
    return "view_version" in data or "where" in data or "name" in data or any(isinstance(e, dict) for e in entries)


def load_config(inputs: list[str], overrides: list[str]) -> Config:
    """Config from YAML/TOML files and manifest URLs (in order) plus `key=value` overrides."""
    import yaml

    kinds = typing.get_type_hints(Config)
    values: dict[str, Any] = {}
    manifests: list[str] = []
    for item in inputs:
        if item.endswith((".yaml", ".yml", ".toml")):
            text = Path(item).read_text()
            data = (tomllib.loads(text) if item.endswith(".toml") else yaml.safe_load(text)) or {}
            if _is_view(data):
                manifests.append(item)  # a view file selects datasets like a manifest (expand_views)
            else:
                values.update(data)
        else:
            manifests.append(item)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set takes key=value, got {item!r}")
        values[key.strip()] = raw
    unknown = sorted(set(values) - set(kinds))
    if unknown:
        raise ValueError(f"unknown config field(s) {unknown}; fields are {sorted(kinds)}")
    typed = {k: _coerce(k, kinds[k], v) for k, v in values.items()}
    typed["datasets"] = typed.get("datasets", ()) + tuple(manifests)
    return Config(**typed)


def expand_views(cfg: Config) -> Config:
    """Replace each view file in `datasets` by the datasets it selects from, with their filters, weights
    and hold-outs; manifests pass through. A pinned view whose catalogs changed is refused here."""
    from climb.loaders.views import is_view_url, load_view, stale
    from climb.storage import storage_options

    if not any(is_view_url(u) for u in cfg.datasets):
        return cfg
    datasets, filters, weights = [], [], []
    holdout_tasks, holdout_datasets = list(cfg.holdout_tasks), list(cfg.holdout_datasets)
    for i, url in enumerate(cfg.datasets):
        given = cfg.weights[i] if cfg.weights else 1.0
        if not is_view_url(url):
            datasets.append(url)
            filters.append(cfg.filters[i] if cfg.filters else "")
            weights.append(given)
            continue
        view = load_view(url, storage_options(url, cfg.s3_endpoint or None))
        changed = [p for p in stale(view, storage_options(view.datasets[0].url, cfg.s3_endpoint or None)) if "not pinned" not in p]
        if changed:
            raise ValueError(f"view {url} is stale: " + "; ".join(changed))
        for d in view.datasets:
            where = " and ".join(f"({w})" for w in (view.where, d.where) if w) or "True"
            datasets.append(d.url)
            filters.append(where)
            weights.append(given * d.weight)
        holdout_tasks += [t for t in view.holdout_tasks if t not in holdout_tasks and t not in cfg.tasks]
        holdout_datasets += [d for d in view.holdout_datasets if d not in holdout_datasets]
    if len(set(datasets)) != len(datasets):
        raise ValueError("a dataset is named twice across the views and manifests given; combine the filters in one view")
    return dataclasses.replace(cfg, datasets=tuple(datasets), filters=tuple(filters), weights=tuple(weights),
                               holdout_tasks=tuple(holdout_tasks), holdout_datasets=tuple(holdout_datasets))
