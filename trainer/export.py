"""Encoder checkpoints: one versioned file per modality, loadable without the trainer.

`climb train` writes out_dir/encoders/<modality>.pt next to checkpoint.pt every time it checkpoints.
The training checkpoint is for resuming one run; an encoder file is for reuse: probing, few-shot
fine-tuning, zero-shot transfer and embedding export on data the run never saw. The format
(docs/transfer.md has the full table) is a plain dict saved with torch.save and read back with
`torch.load(weights_only=True)`, so opening one never runs pickled code:

    format, format_version     "climb-encoder", ENCODER_FORMAT_VERSION
    modality, encoder          schema field; {"factory": "module:callable", "kwargs": every keyword it was
                               called with (output size and input channels included), "adapter": every
                               input adapter argument, "dim"} (backbones.resolve)
    embedding_dim, state_dict  output size [B, dim]; the encoder's weights
    schema_version, code_version
    manifests                  [{url, source, split, sha256 (of manifest.json), schema_version, source_fingerprint}]
                               trained on (`climb evaluate` refuses these datasets unless --allow-seen)
    tasks, holdout             the tasks the encoder was trained on; the held-out tasks and datasets
    step, config               training step and the run's whole Config
    readout                    {fusion, modalities, index, state_dict}: fusion + task heads with only this
                               modality present, the pretrained predictor that zero-shot transfer reads

The factory is stored as an importable path with every argument (not a preset or registry name), so a
file rebuilds the same network with one import, also after climb's presets change, and a backbone
from MONAI or the user's own package loads exactly like climb's. Version 3 introduced this; files of
versions 1 and 2 named one of climb's former fixed-size encoder classes, which no longer exist, and
are refused with that reason.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from climb.schemas.sample import SCHEMA_VERSION
from climb.schemas.tasks import Task
from climb.trainer.backbones import MODALITIES, Encoder
from climb.trainer.fusion import FUSIONS
from climb.trainer.heads import TaskHeads
from climb.version import CODE_VERSION

ENCODER_FORMAT = "climb-encoder"
ENCODER_FORMAT_VERSION = 3


def encoder_record(
    encoder: Encoder,
    modality: str,
    *,
    manifests: Sequence[dict[str, Any]] = (),
    tasks: Sequence[Task] = (),
    holdout: dict[str, list[str]] | None = None,
    step: int = 0,
    config: dict[str, Any] | None = None,
    readout: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The file content for one encoder (see the module docstring for each key)."""
    return {
        "format": ENCODER_FORMAT,
        "format_version": ENCODER_FORMAT_VERSION,
        "modality": modality,
        "encoder": dict(encoder.record),
        "embedding_dim": encoder.dim,
        "state_dict": {k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()},
        "schema_version": SCHEMA_VERSION,
        "code_version": CODE_VERSION,
        "manifests": [dict(m) for m in manifests],
        "tasks": [{"name": t.name, **t.to_dict()} for t in tasks],
        "holdout": holdout or {"tasks": [], "datasets": []},
        "step": step,
        "config": config or {},
        "readout": readout,
    }


def save_record(record: dict[str, Any], path: Path) -> None:
    """Write atomically (temp name, then rename), so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(record, tmp)
    os.replace(tmp, path)


def save_encoders(folder: Path, model: nn.Module, cfg: Any, manifests: Sequence[dict[str, Any]], tasks: Sequence[Task],
                  step: int) -> list[Path]:
    """One file per modality of a MultimodalModel: folder/<modality>.pt. Returns the paths written."""
    paths = []
    readout_state = {**{f"fusion.{k}": v for k, v in model.fusion.state_dict().items()},
                     **{f"heads.{k}": v for k, v in model.heads.state_dict().items()}}
    readout_state = {k: v.detach().cpu().clone() for k, v in readout_state.items()}
    for index, modality in enumerate(model.modalities):
        readout = {"fusion": cfg.fusion, "modalities": list(model.modalities), "index": index, "state_dict": readout_state}
        record = encoder_record(
            model.encoders[modality], modality, manifests=manifests, tasks=tasks,
            holdout={"tasks": list(cfg.holdout_tasks), "datasets": list(cfg.holdout_datasets)},
            step=step, config=dataclasses.asdict(cfg), readout=readout,
        )
        path = folder / f"{modality}.pt"
        save_record(record, path)
        paths.append(path)
    return paths


def read_encoder_file(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The record of an encoder file, checked for format and version; ValueError names what is wrong."""
    hint = "pass an encoder file, out_dir/encoders/<modality>.pt, not a training checkpoint.pt"
    try:
        record = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        # Training checkpoints hold numpy RNG states, which only a full unpickle can rebuild.
        raise ValueError(f"{path} is not a climb encoder file: it holds objects beyond tensors and plain "
                         f"values; {hint}") from None
    except (RuntimeError, EOFError) as exc:
        raise ValueError(f"{path} is not a climb encoder file ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    if not isinstance(record, dict) or record.get("format") != ENCODER_FORMAT:
        raise ValueError(f"{path} is not a climb encoder file (no format {ENCODER_FORMAT!r}); {hint}")
    version = record.get("format_version")
    if isinstance(version, int) and version < ENCODER_FORMAT_VERSION:
        raise ValueError(f"{path} has encoder format version {version}, written by an older climb whose fixed-size "
                         f"encoder classes no longer exist; this climb reads version {ENCODER_FORMAT_VERSION} (encoders "
                         f"recorded as factory + arguments): retrain with this climb")
    if version != ENCODER_FORMAT_VERSION:
        raise ValueError(f"{path} has encoder format version {version}; this climb reads version {ENCODER_FORMAT_VERSION}")
    spec = record.get("encoder") or {}
    if record.get("modality") not in MODALITIES or not {"factory", "kwargs", "adapter", "dim"} <= set(spec):
        raise ValueError(f"{path}: modality {record.get('modality')!r} with encoder keys {sorted(spec)} is not a climb "
                         f"encoder record (modalities {list(MODALITIES)}; keys factory, kwargs, adapter, dim)")
    return record


def build_encoder(record: dict[str, Any]) -> Encoder:
    """The encoder of a record, weights loaded, in eval mode (imports the recorded factory, nothing else)."""
    encoder = Encoder(record["modality"], record["encoder"])
    encoder.load_state_dict(record["state_dict"])
    return encoder.eval()


def load_encoder(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> nn.Module:
    """An encoder from its file (out_dir/encoders/<modality>.pt), in eval mode.

    It maps one batch field to [B, embedding_dim] as in training: e.g. `load_encoder(p)(signal)` for
    signal [B, C, T]. No trainer, config or dataset is needed; the file is opened with weights_only=True.
    """
    return build_encoder(read_encoder_file(path, map_location))


def pretrained_tasks(record: dict[str, Any]) -> tuple[Task, ...]:
    """The tasks whose heads the encoder was trained with (rebuilt from the file, registry not needed)."""
    return tuple(Task(name=t["name"], type=t["type"], classes=tuple(t["classes"]), description=t.get("description") or "",
                      units=t.get("units")) for t in record["tasks"])


class Readout(nn.Module):
    """The pretrained predictor seen through one modality: fusion (with only that modality present) and
    the task heads, applied to the encoder's embeddings [B, dim] -> logits per pretrained task."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__()
        spec = record["readout"]
        dim = record["embedding_dim"]
        self.index, self.count = spec["index"], len(spec["modalities"])
        self.fusion = FUSIONS[spec["fusion"]](self.count, dim)
        self.heads = TaskHeads(pretrained_tasks(record), dim)
        self.load_state_dict(spec["state_dict"])
        self.eval()

    def forward(self, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        b, dim = embeddings.shape
        tokens = embeddings.new_zeros(b, self.count, dim)
        tokens[:, self.index] = embeddings
        present = torch.zeros(b, self.count, dtype=torch.bool, device=embeddings.device)
        present[:, self.index] = True
        return self.heads(self.fusion(tokens, present))
