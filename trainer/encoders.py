"""Encoders of the non-grid modalities: graphs, tabular rows and free text, each to [B, dim].

Images, signals, volumes and videos are encoded by configurable backbones behind input adapters
(backbones.py, adapters.py, networks.py); the three encoders here read inputs whose width differs
between datasets without per-dataset layers, so one model accepts any manifest: node and edge features
are zero-padded or truncated to a fixed width, tabular rows are hashed by key into a fixed number of
buckets, and text is hashed word by word. They are also climb backbones (`climb:graph`,
`climb:tabular`, `climb:text`) and take the embedding size as `dim`.
"""

from __future__ import annotations

import math
import re
import zlib
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn


def fit_width(x: torch.Tensor, width: int) -> torch.Tensor:
    """Zero-pad or truncate the last axis to `width`, so graphs with different feature counts share layers."""
    x = torch.nan_to_num(x.float())
    if x.shape[-1] >= width:
        return x[..., :width]
    return nn.functional.pad(x, (0, width - x.shape[-1]))


class _MessagePassing(nn.Module):
    """One layer: messages from source to target built from (source state, edge features), summed."""

    def __init__(self, dim: int, edge_dim: int) -> None:
        super().__init__()
        self.message = nn.Sequential(nn.Linear(dim + edge_dim, dim), nn.GELU())
        self.update = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU())
        self.norm = nn.LayerNorm(dim)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        source, target = edge_index
        messages = self.message(torch.cat([h[source], edge_attr], 1))
        incoming = torch.zeros_like(h).index_add_(0, target, messages)
        return self.norm(h + self.update(torch.cat([h, incoming], 1)))


class GraphEncoder(nn.Module):
    """Message-passing GNN over one disjoint batch graph; mean-pools nodes per graph.

    Node and edge features are zero-padded or truncated to `node_dim` / `edge_dim` (molecules have 7
    atom features, connectomes one per region), a documented compromise for one model over many datasets.
    """

    def __init__(self, dim: int, node_dim: int = 128, edge_dim: int = 8, layers: int = 3) -> None:
        super().__init__()
        self.node_dim, self.edge_dim = node_dim, edge_dim
        self.embed = nn.Sequential(nn.Linear(node_dim, dim), nn.LayerNorm(dim))
        self.layers = nn.ModuleList(_MessagePassing(dim, edge_dim) for _ in range(layers))
        self.out = nn.Linear(dim, dim)

    def forward(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        edge_attr: torch.Tensor | None,
        batch: torch.Tensor,
        num_graphs: int,
    ) -> torch.Tensor:
        """Args: x [N, F]; edge_index int64 [2, E] (source, target); edge_attr [E, D] or None;
        batch int64 [N], the graph of each node in [0, num_graphs). Returns [num_graphs, dim]; a graph
        without nodes gets the embedding of an empty graph (its presence mask hides it)."""
        h = self.embed(fit_width(x, self.node_dim))
        if edge_attr is None:
            edge_attr = x.new_zeros(edge_index.shape[1], self.edge_dim)
        edges = fit_width(edge_attr, self.edge_dim)
        for layer in self.layers:
            h = layer(h, edge_index, edges)
        sums = h.new_zeros(num_graphs, h.shape[1]).index_add_(0, batch, h)
        counts = torch.bincount(batch, minlength=num_graphs).clamp(min=1).unsqueeze(1)
        return self.out(sums / counts)


def _flatten(value: Any, key: str) -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf) pairs of a JSON value: {"labs": {"k": 4.1}} -> ("labs.k", 4.1)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _flatten(v, f"{key}.{i}")
    else:
        yield key, value


def hash_features(rows: list[dict[str, Any]], buckets: int) -> torch.Tensor:
    """Feature hashing of tabular rows: float32 [B, 2 * buckets] = (values, seen indicators).

    A number goes to bucket crc32(key) as sign(v) * log1p(|v|) (lab values span orders of magnitude);
    a string goes to bucket crc32("key=value") as 1 (a hashed one-hot); None or NaN leaves its bucket
    unseen, so "not measured" is an input of its own rather than a fake 0.
    """
    values = np.zeros((len(rows), buckets), dtype=np.float32)
    seen = np.zeros((len(rows), buckets), dtype=np.float32)
    for i, row in enumerate(rows):
        for key, value in _flatten(row, ""):
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                continue
            if isinstance(value, str):
                bucket, x = zlib.crc32(f"{key}={value}".encode()) % buckets, 1.0
            else:
                bucket, x = zlib.crc32(key.encode()) % buckets, math.copysign(math.log1p(abs(value)), value)
            values[i, bucket] += x
            seen[i, bucket] = 1.0
    return torch.from_numpy(np.concatenate([values, seen], 1))


class TabularEncoder(nn.Module):
    """MLP over hashed `tabular` rows (a list of B JSON dicts); any keys, any dataset."""

    def __init__(self, dim: int, buckets: int = 256, hidden: int = 128) -> None:
        super().__init__()
        self.buckets = buckets
        self.net = nn.Sequential(
            nn.Linear(2 * buckets, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, dim)
        )

    def forward(self, rows: list[dict[str, Any]]) -> torch.Tensor:
        return self.net(hash_features(rows, self.buckets).to(self.net[0].weight.device))


_WORD = re.compile(r"[a-z0-9]+")


def hash_tokens(texts: list[str], vocab: int, max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Hashing tokenizer: lower-cased alphanumeric words -> ids in [1, vocab), as EmbeddingBag input.

    crc32 rather than hash(): Python salts str hashes per process, which would change the ids between
    runs and break checkpoints. No vocabulary file, nothing to download.

    Returns:
        ids int64 [total tokens] and offsets int64 [B] (start of each text in ids).
    """
    ids: list[int] = []
    offsets: list[int] = []
    for text in texts:
        offsets.append(len(ids))
        words = _WORD.findall(text.lower())[:max_tokens]
        ids.extend(zlib.crc32(w.encode()) % (vocab - 1) + 1 for w in words)
    return torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)


class TextEncoder(nn.Module):
    """Bag of hashed word embeddings (mean) + MLP for `text`, a list of B strings."""

    def __init__(self, dim: int, vocab: int = 2**15, max_tokens: int = 512) -> None:
        super().__init__()
        self.vocab, self.max_tokens = vocab, max_tokens
        self.bag = nn.EmbeddingBag(vocab, dim, mode="mean")
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, texts: list[str]) -> torch.Tensor:
        ids, offsets = hash_tokens(texts, self.vocab, self.max_tokens)
        device = self.bag.weight.device
        return self.out(self.bag(ids.to(device), offsets.to(device)))

