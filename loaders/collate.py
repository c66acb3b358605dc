"""Batch samples whose fields differ in length, presence and kind into one dict of tensors.

A field is in the batch when at least one of its samples has it, with this layout:
    "__key__", "meta"          lists
    <field>                    tensor padded with zeros to the largest sample on every axis
    <field>_present            bool [B]: the sample has the field (modalities may be missing)
    <field>_mask               bool, True on real (unpadded) entries: signal [B, T], video [B, T],
                               image/preview [B, H, W]; only when some sample was padded (a batch
                               of equal shapes needs none and does not pay for moving it)
    graph                      one disjoint graph (torch_geometric layout, no dependency):
                               x [sum N, F], edge_index [2, sum E], edge_attr [sum E, D],
                               batch [sum N] (sample of each node), ptr [B + 1], num_graphs B
    text, tabular, other       lists with None where missing
    labels / label_mask        {task: tensor [B] or [B, K]}
    __error__                  list of error strings, only when on_error="skip" replaced samples
Grayscale images are broadcast to 3 channels when the batch also holds RGB ones.
"""

from __future__ import annotations

from typing import Any

import torch
from climb.loaders import transfer

RESERVED = ("__key__", "meta", "labels", "label_mask", "__error__", "__url__", "__position__")
MASK_AXES = {"signal": (-1,), "video": (0,), "image": (0, 1), "preview": (0, 1)}


def _rgb(values: list[torch.Tensor | None]) -> list[torch.Tensor | None]:
    """Image fields: bring [H, W] to [H, W, 3] when another sample is RGB."""
    if any(v is not None and v.ndim == 3 for v in values):
        return [v.unsqueeze(-1).expand(*v.shape, 3) if v is not None and v.ndim == 2 else v for v in values]
    return values


def _allocate(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialized batch tensor: carved out of the worker's reused shared-memory slab when it
    packs batches (transfer.py), else a plain one (torch moves it to shared memory when it is sent)."""
    if transfer.packing():
        return transfer.allocate(shape, dtype)
    return torch.empty(shape, dtype=dtype)


def pad_stack(field: str, values: list[torch.Tensor | None]) -> dict[str, torch.Tensor]:
    """{field: [B, *max shape] zero-padded, field_mask: valid entries, field_present: [B]}."""
    if field in ("image", "preview"):
        values = _rgb(values)
    real = [v for v in values if v is not None]
    ndim = real[0].ndim
    if any(v.ndim != ndim for v in real):
        raise ValueError(f"field {field!r} mixes tensors of rank {sorted({v.ndim for v in real})}")
    dtype = real[0].dtype
    for v in real[1:]:
        dtype = torch.promote_types(dtype, v.dtype)
    shape = [max(v.shape[a] for v in real) for a in range(ndim)]
    present = torch.tensor([v is not None for v in values], dtype=torch.bool)
    batch = _allocate((len(values), *shape), dtype)
    if len(real) == len(values) and all(list(v.shape) == shape and v.dtype == dtype for v in real):
        torch.stack(real, out=batch)
    else:
        batch.zero_()
        for i, v in enumerate(values):
            if v is not None:
                batch[(i, *(slice(0, n) for n in v.shape))] = v
    out = {field: batch, f"{field}_present": present}
    axes = MASK_AXES.get(field)
    if axes is not None and any(list(v.shape) != shape for v in real):
        axes = tuple(a % ndim for a in axes)
        mask = torch.zeros((len(values), *(shape[a] for a in axes)), dtype=torch.bool)
        for i, v in enumerate(values):
            if v is not None:
                mask[(i, *(slice(0, v.shape[a]) for a in axes))] = True
        out[f"{field}_mask"] = mask
    return out


def batch_graphs(values: list[dict[str, torch.Tensor] | None]) -> dict[str, Any]:
    """Disjoint union of the samples' graphs; node ids shifted, `batch` maps nodes to samples."""
    xs, edges, attrs, owner, sizes = [], [], [], [], []
    offset = 0
    for i, g in enumerate(values):
        n = 0 if g is None else int(g["x"].shape[0])
        sizes.append(n)
        if g is None:
            continue
        xs.append(g["x"])
        edges.append(g["edge_index"] + offset)
        if "edge_attr" in g:
            attrs.append(g["edge_attr"])
        owner.append(torch.full((n,), i, dtype=torch.int64))
        offset += n
    if len({x.shape[1:] for x in xs}) > 1:
        raise ValueError(f"graphs in one batch have different node feature shapes {sorted({tuple(x.shape[1:]) for x in xs})}")
    out: dict[str, Any] = {
        "x": torch.cat(xs) if xs else torch.zeros((0, 0)),
        "edge_index": torch.cat(edges, dim=1) if edges else torch.zeros((2, 0), dtype=torch.int64),
        "batch": torch.cat(owner) if owner else torch.zeros((0,), dtype=torch.int64),
        "ptr": torch.tensor([0, *torch.tensor(sizes).cumsum(0).tolist()], dtype=torch.int64),
        "num_graphs": len(values),
    }
    if attrs and len(attrs) == len(xs):
        out["edge_attr"] = torch.cat(attrs)
    return out


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """DataLoader collate_fn for climb samples (see the module docstring for the layout)."""
    out: dict[str, Any] = {"__key__": [s["__key__"] for s in samples], "meta": [s["meta"] for s in samples]}
    fields = sorted({k for s in samples for k in s if k not in RESERVED})
    for field in fields:
        values = [s.get(field) for s in samples]
        real = [v for v in values if v is not None]
        if field == "graph" or (real and isinstance(real[0], dict) and "edge_index" in real[0]):
            out[field] = batch_graphs(values)
            out[f"{field}_present"] = torch.tensor([v is not None for v in values], dtype=torch.bool)
        elif real and all(isinstance(v, torch.Tensor) for v in real):
            out.update(pad_stack(field, values))
        else:
            out[field] = values
    tasks = sorted({t for s in samples for t in s.get("labels", {})})
    out["labels"] = {t: torch.stack([s["labels"][t] for s in samples]) for t in tasks}
    out["label_mask"] = {t: torch.stack([s["label_mask"][t] for s in samples]) for t in tasks}
    if any("__error__" in s for s in samples):
        out["__error__"] = [s.get("__error__") for s in samples]
    return out


def batch_size_of(batch: Any) -> int:
    """Samples in a collated batch (or in a list of samples)."""
    if isinstance(batch, dict) and "__key__" in batch:
        return len(batch["__key__"])
    return len(batch)
