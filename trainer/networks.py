"""climb's own backbones for padded sequences: a 1D ResNet (ECG, EEG) and a (2+1)D ResNet (video).

Both carry the batch's validity mask [B, T] through every layer, so a sample's embedding does not
depend on how much padding its batch mates forced on it:
- every norm is a GroupNorm whose statistics come from real time steps only (MaskedGroupNorm);
- after every norm the padded steps are set back to zero, which is exactly what a convolution's own
  zero padding shows at the end of an unpadded sample;
- strided convolutions use padding kernel // 2, so output step i is centred on input step stride * i
  whatever the length, and the mask is downsampled as mask[:, ::stride];
- the final pooling is a mean over real steps only.
GroupNorm rather than BatchNorm for the same reason as elsewhere in the trainer: a mixed batch holds a
few samples of several datasets, and batch statistics would tie an embedding to its batch mates.

Leads (channels) are mixed from the first convolution on, as in the ECG ResNets of the literature:
diagnoses such as axis deviation or bundle branch blocks are read from the relation between leads.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def _groups(channels: int, groups: int) -> int:
    """The largest divisor of `channels` that is <= `groups` (GroupNorm needs groups | channels)."""
    return max(g for g in range(1, min(groups, channels) + 1) if channels % g == 0)


class MaskedGroupNorm(nn.GroupNorm):
    """GroupNorm over x [B, C, T, ...] whose statistics skip padded time steps (mask bool [B, T]).

    Statistics are computed in float32 (also under bf16 autocast); padded steps come out as zero.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        if mask is None:
            return super().forward(x)
        b, c, rest = x.shape[0], x.shape[1], x.shape[3:]
        xf = x.float()
        # [B, C, T, *rest] -> [B, G, C/G, T, *rest]
        grouped = xf.reshape(b, self.num_groups, c // self.num_groups, *xf.shape[2:])
        weight = mask.to(xf.dtype).reshape(b, 1, 1, mask.shape[1], *(1 for _ in rest)).expand_as(grouped)
        dims = tuple(range(2, grouped.dim()))
        count = weight.sum(dims, keepdim=True).clamp(min=1)
        mean = (grouped * weight).sum(dims, keepdim=True) / count
        var = ((grouped - mean).square() * weight).sum(dims, keepdim=True) / count
        normed = ((grouped - mean) * torch.rsqrt(var + self.eps)).reshape_as(xf)
        shape = (1, c, *(1 for _ in xf.shape[2:]))
        out = normed * self.weight.reshape(shape) + self.bias.reshape(shape)
        return (out * time_mask(mask, out)).to(x.dtype)


def time_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """mask [B, T] shaped to broadcast over `like` [B, C, T, ...] (time is axis 2)."""
    return mask.to(like.dtype).reshape(mask.shape[0], 1, mask.shape[1], *(1 for _ in like.shape[3:]))


def downsample(mask: torch.Tensor | None, stride: int) -> torch.Tensor | None:
    """The mask after a convolution of this stride along time (padding kernel // 2)."""
    return mask if mask is None or stride == 1 else mask[:, ::stride]


def masked_pool(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of x [B, C, T, ...] over time (real steps only) and every other axis after it -> [B, C]."""
    x = x.float().flatten(3).mean(3) if x.dim() > 3 else x.float()
    if mask is None:
        return x.mean(2)
    weight = mask.to(x.dtype).unsqueeze(1)
    return (x * weight).sum(2) / weight.sum(2).clamp(min=1)


class _Block1d(nn.Module):
    """Residual block: conv(k, stride) - norm - ReLU - conv(k) - norm, plus a 1x1 shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv1d(cin, cout, kernel, stride, kernel // 2, bias=False)
        self.norm1 = MaskedGroupNorm(_groups(cout, groups), cout)
        self.conv2 = nn.Conv1d(cout, cout, kernel, 1, kernel // 2, bias=False)
        self.norm2 = MaskedGroupNorm(_groups(cout, groups), cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv1d(cin, cout, 1, stride, bias=False)
            self.short_norm = MaskedGroupNorm(_groups(cout, groups), cout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        out_mask = downsample(mask, self.stride)
        h = torch.relu(self.norm1(self.conv1(x), out_mask))
        h = self.norm2(self.conv2(h), out_mask)
        skip = x if self.shortcut is None else self.short_norm(self.shortcut(x), out_mask)
        return torch.relu(h + skip), out_mask


class ResNet1d(nn.Module):
    """1D ResNet for signals [B, C, T] (C fixed: the input adapter pads or refuses channel counts).

    Args:
        in_channels: channels of the first convolution (leads mixed from there on).
        dim: embedding size.
        width: channels of the stem; stage s has width * 2**s.
        blocks: residual blocks per stage; every stage after the first halves the time axis.
        kernel: convolution size along time (odd).
        stem_stride: stride of the stem; a 500 Hz ECG is oversampled for a CNN.
        groups: GroupNorm groups (reduced to a divisor of the width where needed).
    """

    def __init__(self, in_channels: int, dim: int, width: int = 64, blocks: Sequence[int] = (2, 2, 2, 2),
                 kernel: int = 7, stem_stride: int = 2, groups: int = 8) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd so steps stay centred, got {kernel}")
        self.stem_stride = stem_stride
        self.stem = nn.Conv1d(in_channels, width, 2 * kernel + 1, stem_stride, kernel, bias=False)
        self.stem_norm = MaskedGroupNorm(_groups(width, groups), width)
        layers, cin = [], width
        for stage, count in enumerate(blocks):
            cout = width * 2 ** stage
            for i in range(count):
                layers.append(_Block1d(cin, cout, kernel, 2 if stage > 0 and i == 0 else 1, groups))
                cin = cout
        self.blocks = nn.ModuleList(layers)
        self.out = nn.Linear(cin, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x float [B, C, T], mask bool [B, T] (True on real steps) -> [B, dim]."""
        mask = downsample(mask, self.stem_stride)
        h = torch.relu(self.stem_norm(self.stem(x), mask))
        for block in self.blocks:
            h, mask = block(h, mask)
        return self.out(masked_pool(h, mask))


class _Block2Plus1d(nn.Module):
    """(2+1)D residual block: spatial conv (1, 3, 3) then temporal conv (3, 1, 1), each normed and masked."""

    def __init__(self, cin: int, cout: int, stride: int, time_stride: int, groups: int) -> None:
        super().__init__()
        self.time_stride = time_stride
        self.spatial = nn.Conv3d(cin, cout, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)
        self.norm1 = MaskedGroupNorm(_groups(cout, groups), cout)
        self.temporal = nn.Conv3d(cout, cout, (3, 1, 1), (time_stride, 1, 1), (1, 0, 0), bias=False)
        self.norm2 = MaskedGroupNorm(_groups(cout, groups), cout)
        self.shortcut = None
        if stride != 1 or time_stride != 1 or cin != cout:
            self.shortcut = nn.Conv3d(cin, cout, 1, (time_stride, stride, stride), bias=False)
            self.short_norm = MaskedGroupNorm(_groups(cout, groups), cout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = torch.relu(self.norm1(self.spatial(x), mask))
        out_mask = downsample(mask, self.time_stride)
        h = self.norm2(self.temporal(h), out_mask)
        skip = x if self.shortcut is None else self.short_norm(self.shortcut(x), out_mask)
        return torch.relu(h + skip), out_mask


class R2Plus1d(nn.Module):
    """(2+1)D ResNet for video [B, C, T, H, W]: factorised space and time convolutions (Tran et al. 2018).

    Args:
        in_channels: input channels (3 for RGB; the adapter repeats grayscale).
        dim: embedding size.
        width: channels of the stem; stage s has width * 2**s.
        blocks: residual blocks per stage; every stage after the first halves H and W, and stages
            from the third on also halve time (motion is read at full frame rate first).
        groups: GroupNorm groups.
    """

    def __init__(self, in_channels: int, dim: int, width: int = 32, blocks: Sequence[int] = (1, 1, 1, 1),
                 groups: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv3d(in_channels, width, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False)
        self.stem_norm = MaskedGroupNorm(_groups(width, groups), width)
        layers, cin = [], width
        for stage, count in enumerate(blocks):
            cout = width * 2 ** stage
            for i in range(count):
                first = stage > 0 and i == 0
                layers.append(_Block2Plus1d(cin, cout, 2 if first else 1, 2 if first and stage > 1 else 1, groups))
                cin = cout
        self.blocks = nn.ModuleList(layers)
        self.out = nn.Linear(cin, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x float [B, C, T, H, W], mask bool [B, T] (True on real frames) -> [B, dim]."""
        h = torch.relu(self.stem_norm(self.stem(x), mask))
        for block in self.blocks:
            h, mask = block(h, mask)
        return self.out(masked_pool(h, mask))
