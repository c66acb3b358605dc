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

Inputs whose width differs between datasets (signal channels, node/edge/tabular features) are handled
without per-dataset layers, so one model accepts any manifest: signals encode each channel with a
shared 1D CNN and pool over channels; feature vectors are zero-padded or truncated to a fixed width.
"""

from __future__ import annotations

import math
import re
import zlib

import torch
from torch import nn

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}


def standardize(x: torch.Tensor, dims: tuple[int, ...], eps: float = 1e-5) -> torch.Tensor:
    """Z-score `x` over `dims` (per sample and channel); constant inputs become zeros, not NaN."""
    x = x.float()
    mean = x.mean(dims, keepdim=True)
    std = x.std(dims, keepdim=True, unbiased=False)
    return (x - mean) / (std + eps)


def fit_width(x: torch.Tensor, width: int) -> torch.Tensor:
    """Zero-pad or truncate the last axis to `width`, so datasets with different feature counts share layers."""
    x = torch.nan_to_num(x.float())
    if x.shape[-1] >= width:
        return x[..., :width]
    return nn.functional.pad(x, (0, width - x.shape[-1]))


def conv_net(nd: int, in_channels: int, width: int, depth: int, out_dim: int, kernel: int = 3) -> nn.Sequential:
    """`depth` stride-2 conv blocks (conv, GroupNorm, GELU), global average pool, linear to `out_dim`.

    Widths double per block up to 8x `width`; the global pool accepts any input size.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for i in range(depth):
        out = width * 2 ** min(i, 3)
        layers += [
            _CONV[nd](channels, out, kernel, stride=2, padding=kernel // 2, bias=False),
            nn.GroupNorm(math.gcd(8, out), out),
            nn.GELU(),
        ]
        channels = out
    layers += [_POOL[nd](1), nn.Flatten(), nn.Linear(channels, out_dim)]
    return nn.Sequential(*layers)


class ImageEncoder(nn.Module):
    """2D CNN for `image` [B, C, H, W] with C = 1 (grayscale) or 3 (RGB), any integer or float dtype."""

    def __init__(self, dim: int, width: int = 16, depth: int = 4) -> None:
        super().__init__()
        self.net = conv_net(2, 3, width, depth, dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() != 4 or image.shape[1] not in (1, 3):
            raise ValueError(f"image must be [B, 1|3, H, W], got {tuple(image.shape)}")
        # Grayscale is repeated to 3 channels so CXR and dermoscopy share the first layer.
        x = standardize(image, (2, 3)).expand(-1, 3, -1, -1)
        return self.net(x)


class SignalEncoder(nn.Module):
    """Channel-agnostic 1D CNN for `signal` [B, C, T]: any channel count, any length.

    Each channel is encoded alone by one shared CNN ([B*C, 1, T]); a learned embedding of the
    channel's position is added and mixed non-linearly before the mean over channels, so lead order
    still matters (the schema fixes it: ECG leads are stored in the standard 12-lead order) while a
    19-channel EEG and a 12-lead ECG go through the same weights.
    """

    def __init__(self, dim: int, width: int = 16, depth: int = 5, max_channels: int = 64) -> None:
        super().__init__()
        self.net = conv_net(1, 1, width, depth, dim, kernel=7)
        self.channel = nn.Embedding(max_channels, dim)
        self.mix = nn.Sequential(nn.Linear(dim, dim), nn.GELU())
        self.max_channels = max_channels

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        if signal.dim() != 3:
            raise ValueError(f"signal must be [B, C, T], got {tuple(signal.shape)}")
        b, c, t = signal.shape
        if c > self.max_channels:
            raise ValueError(f"signal has {c} channels; this encoder takes at most {self.max_channels}")
        x = standardize(signal, (2,))
        # [B, C, T] -> [B*C, 1, T]: one sequence per channel through the shared CNN.
        h = self.net(x.reshape(b * c, 1, t))
        # [B*C, dim] -> [B, C, dim]
        h = h.reshape(b, c, -1) + self.channel.weight[:c]
        return self.mix(h).mean(1)


class VolumeEncoder(nn.Module):
    """3D CNN for `volume` patches [B, Z, Y, X] (int16 HU or float32 MR)."""

    def __init__(self, dim: int, width: int = 8, depth: int = 3) -> None:
        super().__init__()
        self.net = conv_net(3, 1, width, depth, dim)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        if volume.dim() != 4:
            raise ValueError(f"volume must be [B, Z, Y, X], got {tuple(volume.shape)}")
        return self.net(standardize(volume, (1, 2, 3)).unsqueeze(1))


class VideoEncoder(nn.Module):
    """Frame encoder + temporal convolution for `video` [B, T, C, H, W] (a (2+1)D factorisation).

    A 2D CNN embeds every frame, a 1D convolution over time mixes neighbouring frames (motion, e.g.
    the beating heart of an echo), and the mean over time gives one embedding for any clip length.
    """

    def __init__(self, dim: int, width: int = 8, depth: int = 3) -> None:
        super().__init__()
        self.frames = ImageEncoder(dim, width, depth)
        self.temporal = nn.Sequential(nn.Conv1d(dim, dim, 3, padding=1), nn.GELU())

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if video.dim() != 5:
            raise ValueError(f"video must be [B, T, C, H, W], got {tuple(video.shape)}")
        b, t = video.shape[:2]
        # [B, T, C, H, W] -> [B*T, C, H, W]: every frame through the 2D encoder.
        h = self.frames(video.flatten(0, 1))
        # [B*T, dim] -> [B, dim, T] for the convolution over time.
        h = h.reshape(b, t, -1).transpose(1, 2)
        return self.temporal(h).mean(2)


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


class TabularEncoder(nn.Module):
    """MLP for `tabular` rows [B, F] with NaN marking missing values.

    Missing values become 0 plus a 1 in a parallel missing-indicator column, so "not measured" is an
    input the model can use rather than a fake value.
    """

    def __init__(self, dim: int, in_dim: int = 64, hidden: int = 128) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.net = nn.Sequential(
            nn.Linear(2 * in_dim, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, dim)
        )

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        missing = fit_width(torch.isnan(rows.float()).float(), self.in_dim)
        return self.net(torch.cat([fit_width(rows, self.in_dim), missing], 1))


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
