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
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from climb.schemas.tasks import Task
from climb.trainer.config import Config, load_config
from climb.trainer.data import Data, batches, open_data
from climb.trainer.export import save_encoders
from climb.trainer.heads import predict
from climb.trainer.losses import contrastive_loss, multitask_loss
from climb.trainer.metrics import MetricAccumulator
from climb.trainer.model import MultimodalModel


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
