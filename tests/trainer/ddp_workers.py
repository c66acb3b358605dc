"""Bodies of the multi-process trainer tests: each runs in every rank of a 2-process gloo group on CPU.

`launch` starts the group with torch.multiprocessing (spawn), as torchrun would start `climb train`:
each process calls one function of this module with (rank, world_size, *args); whatever it returns is
saved per rank and handed back to the test in rank order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

PORTS = range(22100, 22200)  # this engineer's assigned range on the shared machine


def free_port() -> int:
    """A port of PORTS that nothing listens on right now."""
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


def _entry(rank: int, world_size: int, port: int, fn: Callable[..., Any], args: tuple, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        torch.save(fn(rank, world_size, *args), Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def launch(fn: Callable[..., Any], world_size: int, out: Path, *args: Any) -> list[Any]:
    """Run fn(rank, world_size, *args) in `world_size` processes; their results in rank order."""
    out.mkdir(parents=True, exist_ok=True)
    mp.spawn(_entry, args=(world_size, free_port(), fn, args, str(out)), nprocs=world_size, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(world_size)]


def epoch_keys(rank: int, world_size: int, cfg: Any, shuffle_of: int | None = None) -> list[str]:
    """The sample keys this rank trains on in one epoch of the trainer's data (open_data), with the
    shuffle of a world of `shuffle_of` ranks if given (the shuffle's geometry scales with the world)."""
    from climb.trainer.data import open_data

    data = open_data(cfg, rank, world_size)
    if shuffle_of is not None:
        data.train.keep_shuffle(data.train.shuffle_state(shuffle_of))
    data.train.set_epoch(0)
    return [key for batch in data.train.loader(batch_size=cfg.batch_size) for key in batch["__key__"]]


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over a state dict's names and tensor bytes."""
    digest = hashlib.sha256()
    for name, value in sorted(state.items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _weights_digest(model: torch.nn.Module) -> str:
    return state_digest(model.state_dict())


def train_run(rank: int, world_size: int, cfg: Any) -> dict[str, Any]:
    """A `climb train` run in this rank (own out_dir per rank, to see who writes what): its losses, the
    files it left, the checkpoint, and a digest of the weights this rank holds in memory at the end."""
    import climb.trainer.train as trainer
    from climb.trainer.data import open_data

    built: list[torch.nn.Module] = []
    model_class = trainer.MultimodalModel

    def spy(*args: Any, **kwargs: Any) -> torch.nn.Module:  # keeps a handle on the rank's model
        built.append(model_class(*args, **kwargs))
        return built[-1]

    trainer.MultimodalModel = spy
    cfg = dataclasses.replace(cfg, out_dir=str(Path(cfg.out_dir) / f"rank{rank}"))
    losses = trainer.train(cfg, open_data(cfg, rank, world_size), rank, world_size)
    ckpt = Path(cfg.out_dir) / "checkpoint.pt"
    return {"losses": losses, "files": sorted(p.name for p in Path(cfg.out_dir).iterdir()),
            "state": torch.load(ckpt, weights_only=False) if ckpt.exists() else None, "weights": _weights_digest(built[0])}


def validation(rank: int, world_size: int, cfg: Any) -> dict[str, Any]:
    """evaluate() of one freshly initialised model, sharded across the ranks; and what each rank read."""
    from climb.trainer.data import open_data
    from climb.trainer.model import MultimodalModel
    from climb.trainer.train import evaluate

    data = open_data(cfg, rank, world_size)
    torch.manual_seed(cfg.seed)
    model = MultimodalModel(data.modalities, data.tasks, cfg.dim, cfg.fusion, data.scales, cfg.encoder_preset)
    read = data.val(rank, world_size)
    keys = [k for batch in read.loader(batch_size=cfg.batch_size) for k in batch["__key__"]]
    metrics = evaluate(model, data, cfg, torch.device("cpu"), rank, world_size)
    return {"metrics": metrics, "keys": keys, "weights": _weights_digest(model), "pid": os.getpid()}


def session(rank: int, world_size: int, cfg: Any) -> dict[str, Any]:
    """Everything the multi-process tests look at, from one process group (starting processes is the
    slow part): one epoch's keys, a validation pass of a fresh model, then a training run."""
    return {"epoch_keys": epoch_keys(rank, world_size, cfg), "validation": validation(rank, world_size, cfg),
            "train": train_run(rank, world_size, cfg)}
