"""The reference trainer behind `climb train`: stream manifests, train encoders + fusion + task heads.

Commands:
    climb train run.yaml                                         # one process: CPU, or one GPU with AMP
    climb train out/ptbxl/manifest.json out/chexpert/manifest.json --set steps=500 --set fusion=late
    climb train run.toml --set contrastive_weight=0.1 --set temperature=0.07
    climb train run.yaml --set resume=true                       # continue from out_dir/checkpoint.pt
    climb train run.yaml --set encoder_preset=small --set 'encoders={"image": {"factory": "monai:DenseNet121"}}'
    torchrun --standalone --nproc_per_node=2 -m climb train run.yaml   # DDP, one process per device

A config file (YAML or TOML) holds any fields of `Config`; arguments that are not config files are
manifest URLs appended to `datasets`; `--set key=value` overrides one field, parsed by the field's type.
Everything needed to continue exactly is in the checkpoint: model, optimizer, AMP scaler, loader
position, RNG states and the config. Each step reseeds torch from (seed, step, rank), so step k draws
the same random numbers whether or not the run was interrupted before it.
Outputs in out_dir: checkpoint.pt, metrics.jsonl (one JSON object per logged step or validation pass),
encoders/<modality>.pt (each encoder alone, for `climb evaluate` / `climb embed` / `load_encoder`; the
format is in trainer/export.py and docs/transfer.md). `holdout_tasks` / `holdout_datasets` keep tasks
and datasets out of pretraining so transfer to them can be measured.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from climb.schemas.tasks import Task, get_task
from climb.trainer.backbones import MODALITIES, PRESETS
from climb.trainer.export import save_encoders
from climb.trainer.heads import predict
from climb.trainer.losses import contrastive_loss, multitask_loss
from climb.trainer.metrics import MetricAccumulator
from climb.trainer.model import MultimodalModel


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


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a run (None = fp32). bf16 needs no loss scaling and works on CPU too."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise ValueError("precision fp16 needs a GPU (CPU autocast supports bf16)")
        return torch.float16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    return obj


def batches(data: Data, cfg: Config, epoch: int, pin_memory: bool = False) -> Iterator[tuple[int, dict]]:
    """Training batches forever, as (epoch, batch); each new epoch reshuffles through set_epoch.

    pin_memory (GPU runs) puts batches in page-locked memory, so to_device's non_blocking copies overlap
    with compute."""
    loader = data.train.loader(batch_size=cfg.batch_size, num_workers=cfg.num_workers, pin_memory=pin_memory)
    while True:
        data.train.set_epoch(epoch)
        for batch in loader:
            yield epoch, batch
        epoch += 1


def step_seed(seed: int, step: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])


def get_lr(cfg: Config, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def losses(model: torch.nn.Module, batch: dict, tasks: dict[str, Task], cfg: Config) -> tuple[torch.Tensor, dict]:
    """Weighted multitask loss + contrastive term, and each term on its own (for the log)."""
    logits, projected, present = model(batch)
    weights = dict(zip(cfg.tasks, cfg.task_weights))
    heads = getattr(model, "module", model).heads  # DistributedDataParallel wraps the model
    total, per_task = multitask_loss(tasks, logits, batch["labels"], batch["label_mask"], weights, cfg.regression_loss,
                                     heads.standardized)
    if cfg.contrastive_weight:
        per_task["contrastive"] = contrastive_loss(projected, present, cfg.temperature)
        total = total + cfg.contrastive_weight * per_task["contrastive"]
    return total, per_task


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: Data, cfg: Config, device: torch.device, rank: int = 0, world_size: int = 1) -> dict:
    """AUROC / macro-F1 / MAE per task on (up to eval_batches of) the val split, sharded across ranks.

    Every rank scores its own share of the val stream; the per-sample scores are gathered to every rank
    (the gather is also the barrier: no rank runs ahead while another is still validating) and a sample
    the loaders' `wrap` tail repeated to even out the ranks counts once. The metrics are computed over
    the samples sorted by key, so they do not depend on the world size.
    """
    model.eval()
    tasks = {t.name: t for t in data.tasks}
    limit = -(-cfg.eval_batches // world_size) if cfg.eval_batches else 0
    rows: list[tuple[tuple[str, str], dict[str, tuple]]] = []  # ((dataset, key), {task: (score, label, mask)})
    loader = data.val(rank, world_size).loader(batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                                               pin_memory=device.type == "cuda")
    for i, batch in enumerate(loader):
        if limit and i >= limit:
            break
        batch = to_device(batch, device)
        logits, _, _ = model(batch)
        scored = {name: (predict(task, logits[name]).float().cpu().numpy(), batch["labels"][name].cpu().numpy(),
                         batch["label_mask"][name].cpu().numpy())
                  for name, task in tasks.items() if name in batch["labels"]}  # a batch holds only its datasets' tasks
        for j, key in enumerate(batch["__key__"]):
            rows.append(((str(batch["meta"][j].get("dataset", "")), key), {n: (s[j], y[j], m[j]) for n, (s, y, m) in scored.items()}))
    if world_size > 1:
        gathered: list[Any] = [None] * world_size
        dist.all_gather_object(gathered, rows)
        rows = [row for part in gathered for row in part]
    model.train()
    unique = dict(sorted(rows, key=lambda r: r[0]))
    acc = MetricAccumulator(tasks)
    for name in tasks:
        entries = [v[name] for v in unique.values() if name in v]
        if entries:
            scores, labels, masks = (torch.from_numpy(np.stack(col)) for col in zip(*entries))
            acc.update(name, scores, labels, masks)
    return acc.compute()


def rng_states() -> dict:
    states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: Path, step: int, epoch: int, model, optimizer, scaler, data: Data, cfg: Config) -> None:
    state = {
        "step": step, "epoch": epoch, "config": dataclasses.asdict(cfg),
        "modalities": list(data.modalities), "tasks": [t.name for t in data.tasks],
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
        "data": data.train.state_dict(), "rng": rng_states(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a crash mid-save leaves the previous checkpoint intact
    save_encoders(path.parent / "encoders", model, cfg, data.manifests, data.tasks, step)


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return (dist.get_rank() if world > 1 else 0), world, device


def train(cfg: Config, data: Data, rank: int = 0, world_size: int = 1, device: torch.device | None = None) -> list[float]:
    """Run (or resume) training; returns the loss of every step run in this call."""
    device = device or torch.device("cpu")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    tasks = {t.name: t for t in data.tasks}
    model = MultimodalModel(data.modalities, data.tasks, cfg.dim, cfg.fusion, data.scales, cfg.encoder_preset,
                            cfg.encoders, cfg.channels_last).to(device)
    if cfg.channels_last and "image" in model.encoders:
        model.encoders["image"].to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # Mixed precision: bf16 (no scaler needed) or, on GPUs without it, fp16 with loss scaling.
    amp_dtype = autocast_dtype(cfg.precision, device)
    amp = amp_dtype is not None
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    start, epoch = 0, 0
    ckpt_path = out / "checkpoint.pt"
    if cfg.resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        data.train.load_state_dict(ckpt["data"])
        restore_rng(ckpt["rng"])
        start, epoch = ckpt["step"], ckpt["epoch"]
    # Some encoders get no gradient in a batch without their modality; DDP must be told.
    net = DistributedDataParallel(model, find_unused_parameters=True) if world_size > 1 else model
    end = min(cfg.steps, cfg.stop_at or cfg.steps)
    main = rank == 0
    log = (out / "metrics.jsonl").open("a") if main else None
    stream = batches(data, cfg, epoch, pin_memory=device.type == "cuda")
    history: list[float] = []
    bar = tqdm(range(start, end), initial=start, total=end, disable=not (main and cfg.progress), desc="train")
    tic = time.perf_counter()
    for step in bar:
        torch.manual_seed(step_seed(cfg.seed, step, rank))
        for group in optimizer.param_groups:
            group["lr"] = get_lr(cfg, step)
        epoch, batch = next(stream)
        batch = to_device(batch, device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
            loss, parts = losses(net, batch, tasks, cfg)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        history.append(loss.item())
        bar.set_postfix(loss=f"{history[-1]:.4f}")
        done = step + 1
        if log and (done % cfg.log_every == 0 or done == end):
            rate = (done - start) * cfg.batch_size * world_size / (time.perf_counter() - tic)
            line = {"step": done, "split": "train", "epoch": epoch, "loss": history[-1], "lr": get_lr(cfg, step),
                    "samples_per_s": round(rate, 1), "tasks": {k: v.item() for k, v in parts.items()}}
            log.write(json.dumps(line) + "\n")
            log.flush()
        if done % cfg.eval_every == 0 or done == end:
            if data.val is not None:  # every rank validates its share (evaluate gathers)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                    metrics = evaluate(model, data, cfg, device, rank, world_size)
                if log:
                    log.write(json.dumps({"step": done, "split": "val", "metrics": metrics}) + "\n")
                    log.flush()
            if main:
                save_checkpoint(ckpt_path, done, epoch, model, optimizer, scaler, data, cfg)
            if world_size > 1:
                dist.barrier()  # nobody continues (or exits at stop_at) before the checkpoint is on disk
    bar.close()
    if log:
        log.close()
    return history


def cli_train(args) -> int:
    """`climb train CONFIG_OR_MANIFESTS... [--set key=value]` (parser in climb/cli.py)."""
    from climb.errors import UserError

    try:
        cfg = load_config(args.inputs, args.set)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    rank, world_size, device = setup_distributed()
    try:
        data = open_data(cfg, rank, world_size)
        history = train(cfg, data, rank, world_size, device)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if rank == 0 and history:
        print(f"trained {len(history)} steps; last loss {history[-1]:.4f}; outputs in {cfg.out_dir}")
    return 0
