"""Modality encoders: each maps one schema field of a batch to one embedding per sample, [B, dim].

One encoder per schema field (image, signal, video, volume, graph, text, tabular), all ending in the
same embedding size so fusion can treat the modalities of a sample as tokens of one sequence.

Two choices run through every encoder:
- Normalisation happens inside, per sample: stored values come in whatever units the dataset uses
  (uint8 or uint16 pixels, mV or uV, HU or MR intensity), and a per-sample z-score makes the encoder
  indifferent to bit depth, window and units without a per-dataset statistics pass.
- GroupNorm, never BatchNorm: a mixed batch holds a few samples of each of several datasets, so batch
  statistics would mix datasets and tie one sample's embedding to its batch mates. With GroupNorm every
  embedding is a function of its own sample only (the batch-permutation test relies on this too).

Inputs whose width differs between datasets (signal channels, node/edge features, tabular keys) are
handled without per-dataset layers, so one model accepts any manifest: signals encode each channel
with a shared 1D CNN and pool over channels; node and edge features are zero-padded or truncated to a
fixed width; tabular rows are hashed by key into a fixed number of buckets.

Inputs are batches in the layout of `climb.loaders.collate`: images [B, H, W] or [B, H, W, 3] and
videos [B, T, H, W(, 3)] channel-last as stored, zero-padded to the largest sample, with optional
validity masks (image [B, H, W], signal and video [B, T]) that keep padding out of the statistics.
"""

from __future__ import annotations

import math
import re
import zlib
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}


def standardize(x: torch.Tensor, dims: tuple[int, ...], mask: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    """Z-score `x` over `dims` (per sample and channel); constant inputs become zeros, not NaN.

    With a `mask` (bool, broadcastable to x, True on real entries) the statistics come from real
    entries only and padding comes out as 0, the standardized mean.
    """
    x = x.float()
    if mask is None:
        mean = x.mean(dims, keepdim=True)
        std = x.std(dims, keepdim=True, unbiased=False)
        return (x - mean) / (std + eps)
    weight = mask.to(x.dtype).expand_as(x)
    count = weight.sum(dims, keepdim=True).clamp(min=1)
    mean = (x * weight).sum(dims, keepdim=True) / count
    std = ((x - mean).square() * weight).sum(dims, keepdim=True).div(count).sqrt()
    return (x - mean) / (std + eps) * weight


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None, dim: int) -> torch.Tensor:
    """Mean of x over `dim`, counting only entries where mask (broadcastable to x) is True."""
    if mask is None:
        return x.mean(dim)
    weight = mask.to(x.dtype).expand_as(x)
    return (x * weight).sum(dim) / weight.sum(dim).clamp(min=1)


def fit_width(x: torch.Tensor, width: int) -> torch.Tensor:
    """Zero-pad or truncate the last axis to `width`, so graphs with different feature counts share layers."""
    x = torch.nan_to_num(x.float())
    if x.shape[-1] >= width:
        return x[..., :width]
    return nn.functional.pad(x, (0, width - x.shape[-1]))


def conv_net(
    nd: int, in_channels: int, width: int, depth: int, out_dim: int, kernel: int = 3, stem_stride: int = 2
) -> nn.Sequential:
    """`depth` strided conv blocks (conv, GroupNorm, GELU), global average pool, linear to `out_dim`.

    The first block has stride `stem_stride` (keep it <= kernel so no input is skipped), the others 2.
    Widths double per block up to 8x `width`; the global pool accepts any input size.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for i in range(depth):
        out = width * 2 ** min(i, 3)
        layers += [
            _CONV[nd](channels, out, kernel, stride=stem_stride if i == 0 else 2, padding=kernel // 2, bias=False),
            nn.GroupNorm(math.gcd(8, out), out),
            nn.GELU(),
        ]
        channels = out
    layers += [_POOL[nd](1), nn.Flatten(), nn.Linear(channels, out_dim)]
    return nn.Sequential(*layers)


class ImageEncoder(nn.Module):
    """2D CNN for `image` [B, H, W] (grayscale) or [B, H, W, 3] (RGB), uint8, uint16 or float."""

    def __init__(self, dim: int, width: int = 16, depth: int = 4) -> None:
        super().__init__()
        self.net = conv_net(2, 3, width, depth, dim)

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """mask: bool [B, H, W], True on real pixels (the rest is collate padding)."""
        if image.dim() == 3:
            image = image.unsqueeze(-1)
        if image.dim() != 4 or image.shape[-1] not in (1, 3):
            raise ValueError(f"image must be [B, H, W] or [B, H, W, 3], got {tuple(image.shape)}")
        x = image.permute(0, 3, 1, 2)  # [B, H, W, C] -> [B, C, H, W]
        x = standardize(x, (2, 3), None if mask is None else mask.unsqueeze(1))
        # Grayscale is repeated to 3 channels so CXR and dermoscopy share the first layer.
        return self.net(x.expand(-1, 3, -1, -1))


class SignalEncoder(nn.Module):
    """Channel-agnostic 1D CNN for `signal` [B, C, T]: any channel count, any length.

    Each channel is encoded alone by one shared CNN ([B*C, 1, T]); a learned embedding of the
    channel's position is added and mixed non-linearly before the mean over channels, so lead order
    still matters (the schema fixes it: ECG leads are stored in the standard 12-lead order) while a
    19-channel EEG and a 12-lead ECG go through the same weights. A channel that is exactly zero
    throughout (collate padding when a batch mixes channel counts, or a disconnected lead) carries no
    information and is left out of the statistics and the mean. The z-score is one per sample over
    all live channels, so units (mV or uV) do not matter but the relative amplitude of leads, which
    carries diagnoses such as voltage criteria of hypertrophy, survives.
    """

    def __init__(self, dim: int, width: int = 16, depth: int = 5, max_channels: int = 64) -> None:
        super().__init__()
        # Stride-4 stem: a 500 Hz ECG is oversampled for a CNN; this halves the cost of every layer.
        self.net = conv_net(1, 1, width, depth, dim, kernel=7, stem_stride=4)
        self.channel = nn.Embedding(max_channels, dim)
        self.mix = nn.Sequential(nn.Linear(dim, dim), nn.GELU())
        self.max_channels = max_channels

    def forward(self, signal: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """mask: bool [B, T], True on real time steps (the rest is collate padding)."""
        if signal.dim() != 3:
            raise ValueError(f"signal must be [B, C, T], got {tuple(signal.shape)}")
        b, c, t = signal.shape
        if c > self.max_channels:
            raise ValueError(f"signal has {c} channels; this encoder takes at most {self.max_channels}")
        live = (signal != 0).any(2).unsqueeze(2)  # [B, C, 1]
        x = standardize(signal, (1, 2), live if mask is None else live & mask.unsqueeze(1))
        # [B, C, T] -> [B*C, 1, T]: one sequence per channel through the shared CNN.
        h = self.net(x.reshape(b * c, 1, t))
        # [B*C, dim] -> [B, C, dim]
        h = self.mix(h.reshape(b, c, -1) + self.channel.weight[:c])
        return masked_mean(h, live, 1)


class VolumeEncoder(nn.Module):
    """3D CNN for volume patches [B, K, Z, Y, X] (int16 HU or float32 MR): K patches per sample,
    as `climb.loaders.zarr_patches.VolumePatches` cuts them, embedded alone and averaged."""

    def __init__(self, dim: int, width: int = 8, depth: int = 3) -> None:
        super().__init__()
        self.net = conv_net(3, 1, width, depth, dim)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        if patches.dim() != 5:
            raise ValueError(f"volume patches must be [B, K, Z, Y, X], got {tuple(patches.shape)}")
        b, k = patches.shape[:2]
        # [B, K, Z, Y, X] -> [B*K, 1, Z, Y, X]: every patch through the 3D CNN, z-scored alone.
        x = standardize(patches.flatten(0, 1), (1, 2, 3)).unsqueeze(1)
        return self.net(x).reshape(b, k, -1).mean(1)


class VideoEncoder(nn.Module):
    """Frame encoder + temporal convolution for `video` [B, T, H, W] or [B, T, H, W, 3] ((2+1)D).

    A 2D CNN embeds every frame, a 1D convolution over time mixes neighbouring frames (motion, e.g.
    the beating heart of an echo), and the mean over time gives one embedding for any clip length.
    """

    def __init__(self, dim: int, width: int = 8, depth: int = 3) -> None:
        super().__init__()
        self.frames = ImageEncoder(dim, width, depth)
        self.temporal = nn.Sequential(nn.Conv1d(dim, dim, 3, padding=1), nn.GELU())

    def forward(self, video: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """mask: bool [B, T], True on real frames (the rest is collate padding)."""
        if video.dim() not in (4, 5):
            raise ValueError(f"video must be [B, T, H, W] or [B, T, H, W, 3], got {tuple(video.shape)}")
        b, t = video.shape[:2]
        # [B, T, H, W(, 3)] -> [B*T, H, W(, 3)]: every frame through the 2D encoder.
        h = self.frames(video.flatten(0, 1))
        # [B*T, dim] -> [B, dim, T] for the convolution over time.
        h = self.temporal(h.reshape(b, t, -1).transpose(1, 2))
        return masked_mean(h, None if mask is None else mask.unsqueeze(1), 2)


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


ENCODERS: dict[str, type[nn.Module]] = {
    "image": ImageEncoder,
    "signal": SignalEncoder,
    "video": VideoEncoder,
    "volume": VolumeEncoder,
    "graph": GraphEncoder,
    "tabular": TabularEncoder,
    "text": TextEncoder,
}
