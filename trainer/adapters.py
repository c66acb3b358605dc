"""Input adapters: a batch field as stored -> the float tensor a backbone takes, with no learned state.

Stored values come in each dataset's own units and layout (uint8 or uint16 pixels, channel-last;
signals in mV or uV with any channel count; CT in int16 Hounsfield units, MR in float32). An adapter
fixes the channels, the size and the intensity scale so that any backbone, climb's or MONAI's or a
user's, sees one layout:

    image   [B, H, W(, 3)]      -> [B, C, S, S]          (channels_last on request, for GPUs)
    signal  [B, C_in, T]        -> [B, C, T] + mask [B, T]
    volume  [B, K, Z, Y, X]     -> [B*K, len(windows), Z, Y, X]  (K patches per sample)
    video   [B, T, H, W(, 3)]   -> [B, C, T, S, S] + mask [B, T]

Normalisations that keep what the data means:
- "sample" (images, video, signals): one mean and one std per sample over all its channels and real
  entries. Units and bit depth stop mattering, but the relative level of the channels survives: the
  colour balance of a dermoscopy or fundus photo, the relative amplitude of ECG leads (voltage criteria
  of hypertrophy). "channel" (a z-score per channel, which erases both) is available but never a default.
- "range": divide by the dtype's maximum (uint8 / 255, uint16 / 65535); floats pass unchanged.
- "hu" (volumes): fixed Hounsfield windows, each clipped and scaled to [0, 1] and given as one input
  channel. Every patch of every CT is scaled the same way, so a density means the same tissue everywhere
  (a per-patch z-score made two patches of one scan disagree). "zscore" scales each sample (all its
  patches together) for MR, whose intensities have no physical unit; "auto" picks "hu" for integer
  patches (CT is stored as int16 HU) and "zscore" for float ones.
Resizing to a fixed S uses each image's real extent (its mask), so a padded image is resized exactly as
it would be alone.

Fixed length in time (`length`, signals and videos): every sample is cut to its first `length` steps or
zero-padded up to them, with the mask following. A collated batch pads each sample to its longest batch
mate; a backbone that takes no mask (MONAI's, most `module:callable` ones) would then see a sample
differently depending on who it is batched with. With a fixed length its input is its own data plus
zeros to `length`, whatever the batch; the statistics of the normalisation skip the padding. The
encoder (backbones.py) refuses a padded batch for a mask-less backbone without `length`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

IMAGE_NORMALIZATIONS = ("sample", "range", "channel")
VOLUME_NORMALIZATIONS = ("auto", "hu", "zscore")
# Lung (W1500 L-600), soft tissue / mediastinum (W400 L40), bone (W1800 L400).
HU_WINDOWS = ((-1350.0, 150.0), (-160.0, 240.0), (-500.0, 1300.0))


def _scale(x: torch.Tensor) -> float:
    """The dtype's full-scale value for "range" (1 for floats)."""
    return 1.0 if x.is_floating_point() else float(torch.iinfo(x.dtype).max)


def normalize(x: torch.Tensor, how: str, channel_dim: int, mask: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    """x as float32 normalised per sample (axis 0) by `how`; mask (broadcastable to x) marks real entries.

    "sample": one mean/std over every axis but 0; "channel": one per channel (`channel_dim`); "range":
    x / dtype max. Padding comes out as 0; a constant sample becomes zeros, not NaN.
    """
    if how == "range":
        out = x.float() / _scale(x)
        return out if mask is None else out * mask.to(out.dtype)
    xf = x.float()
    dims = tuple(d for d in range(1, xf.dim()) if not (how == "channel" and d == channel_dim % xf.dim()))
    weight = torch.ones_like(xf) if mask is None else mask.to(xf.dtype).expand_as(xf)
    count = weight.sum(dims, keepdim=True).clamp(min=1)
    mean = (xf * weight).sum(dims, keepdim=True) / count
    std = ((xf - mean).square() * weight).sum(dims, keepdim=True).div(count).sqrt()
    return (xf - mean) / (std + eps) * weight


def _crop_resize(x: torch.Tensor, mask: torch.Tensor | None, size: int) -> torch.Tensor:
    """x [B, C, H, W] -> [B, C, size, size], each sample's real extent (mask [B, H, W]) resized alone."""
    if size <= 0 or (mask is None and x.shape[-2:] == (size, size)):
        return x
    if mask is None:
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    out = []
    for i in range(x.shape[0]):
        h = int(mask[i].any(1).sum())
        w = int(mask[i].any(0).sum())
        crop = x[i:i + 1, :, :max(h, 1), :max(w, 1)]
        out.append(F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True))
    return torch.cat(out)


def fit_length(x: torch.Tensor, mask: torch.Tensor | None, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x [B, T, ...] and mask [B, T] (None = every step real) cut or zero-padded to T = length along axis 1.

    The first `length` steps of each sample are kept: the same window alone or in any batch. The mask
    returned marks the real steps inside it.
    """
    b, t = x.shape[:2]
    if mask is None:
        mask = torch.ones(b, t, dtype=torch.bool, device=x.device)
    if t >= length:
        return x[:, :length], mask[:, :length]
    pad = x.new_zeros(b, length - t, *x.shape[2:])
    return torch.cat([x, pad], 1), torch.cat([mask, mask.new_zeros(b, length - t)], 1)


def _channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """x [B, C, ...] with C in (1, 3) -> [B, channels, ...]: grayscale repeated, RGB averaged to gray."""
    if x.shape[1] == channels:
        return x
    if channels == 3 and x.shape[1] == 1:
        return x.expand(-1, 3, *x.shape[2:])
    if channels == 1 and x.shape[1] == 3:
        return x.mean(1, keepdim=True)
    raise ValueError(f"cannot bring {x.shape[1]} channels to {channels}")


class ImageAdapter(nn.Module):
    """[B, H, W] or [B, H, W, 3] (+ mask [B, H, W]) -> float [B, channels, size, size].

    Args:
        channels: 3 (grayscale repeated, so CXR and dermoscopy share the first layer) or 1.
        size: output height and width; 0 keeps the stored size (then padding reaches the backbone).
        normalization: "sample" | "range" | "channel" (module docstring).
        channels_last: return a channels_last tensor (faster convolutions on GPUs with tensor cores).
    """

    def __init__(self, channels: int = 3, size: int = 224, normalization: str = "sample", channels_last: bool = False) -> None:
        super().__init__()
        if normalization not in IMAGE_NORMALIZATIONS or channels not in (1, 3):
            raise ValueError(f"image adapter: normalization in {IMAGE_NORMALIZATIONS}, channels 1 or 3; got "
                             f"{normalization!r}, {channels}")
        self.channels, self.size, self.normalization, self.channels_last = channels, size, normalization, channels_last

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if image.dim() == 3:
            image = image.unsqueeze(-1)
        if image.dim() != 4 or image.shape[-1] not in (1, 3):
            raise ValueError(f"image must be [B, H, W] or [B, H, W, 3], got {tuple(image.shape)}")
        x = image.permute(0, 3, 1, 2)  # [B, H, W, C] -> [B, C, H, W]
        x = normalize(x, self.normalization, 1, None if mask is None else mask.unsqueeze(1))
        x = _crop_resize(_channels(x, self.channels), mask, self.size)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


class SignalAdapter(nn.Module):
    """[B, C_in, T] (+ mask [B, T]) -> (float [B, channels, T], mask): channels zero-padded to a fixed count.

    A channel that is zero throughout (collate padding, a disconnected lead) is left out of the
    statistics. More channels than `channels` is refused rather than silently cut. `length` > 0 makes
    T = length for every sample (module docstring: for backbones that take no mask); 0 keeps the
    batch's length.
    """

    def __init__(self, channels: int = 12, normalization: str = "sample", length: int = 0) -> None:
        super().__init__()
        if normalization not in IMAGE_NORMALIZATIONS or length < 0:
            raise ValueError(f"signal adapter: normalization in {IMAGE_NORMALIZATIONS}, length >= 0; got "
                             f"{normalization!r}, {length}")
        self.channels, self.normalization, self.length = channels, normalization, length

    def forward(self, signal: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if signal.dim() != 3:
            raise ValueError(f"signal must be [B, C, T], got {tuple(signal.shape)}")
        if signal.shape[1] > self.channels:
            raise ValueError(f"signal has {signal.shape[1]} channels; this encoder takes at most {self.channels} "
                             f"(set the signal adapter's channels)")
        if self.length:
            fitted, mask = fit_length(signal.transpose(1, 2), mask, self.length)  # time to axis 1 and back
            signal = fitted.transpose(1, 2)
        live = (signal != 0).any(2, keepdim=True)  # [B, C, 1]
        valid = live if mask is None else live & mask.unsqueeze(1)
        x = normalize(signal, self.normalization, 1, valid)
        return F.pad(x, (0, 0, 0, self.channels - x.shape[1])), mask


class VolumeAdapter(nn.Module):
    """Patches [B, K, Z, Y, X] -> float [B*K, len(windows), Z, Y, X] (module docstring for the scaling)."""

    def __init__(self, normalization: str = "auto", windows: Sequence[Sequence[float]] = HU_WINDOWS) -> None:
        super().__init__()
        if normalization not in VOLUME_NORMALIZATIONS or not windows:
            raise ValueError(f"volume adapter: normalization in {VOLUME_NORMALIZATIONS} and at least one window")
        self.normalization, self.windows = normalization, [tuple(float(v) for v in w) for w in windows]

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        if patches.dim() != 5:
            raise ValueError(f"volume patches must be [B, K, Z, Y, X], got {tuple(patches.shape)}")
        how = self.normalization
        if how == "auto":
            how = "zscore" if patches.is_floating_point() else "hu"
        if how == "hu":
            x = patches.float()
            # [B, K, Z, Y, X] -> [B, K, W, Z, Y, X]: one channel per window.
            x = torch.stack([((x - low) / (high - low)).clamp(0, 1) for low, high in self.windows], 2)
        else:
            # one mean/std per sample over all its patches, so patches of one scan stay comparable
            x = normalize(patches, "sample", 1).unsqueeze(2).expand(-1, -1, len(self.windows), -1, -1, -1)
        return x.flatten(0, 1)


class VideoAdapter(nn.Module):
    """[B, T, H, W(, 3)] (+ mask [B, T]) -> (float [B, channels, T, size, size], mask).

    `length` > 0 makes T = length frames for every clip (module docstring: for backbones that take no
    mask); 0 keeps the batch's length.
    """

    def __init__(self, channels: int = 3, size: int = 112, normalization: str = "sample", length: int = 0) -> None:
        super().__init__()
        if normalization not in IMAGE_NORMALIZATIONS or channels not in (1, 3) or length < 0:
            raise ValueError(f"video adapter: normalization in {IMAGE_NORMALIZATIONS}, channels 1 or 3, length >= 0")
        self.channels, self.size, self.normalization, self.length = channels, size, normalization, length

    def forward(self, video: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if video.dim() == 4:
            video = video.unsqueeze(-1)
        if video.dim() != 5 or video.shape[-1] not in (1, 3):
            raise ValueError(f"video must be [B, T, H, W] or [B, T, H, W, 3], got {tuple(video.shape)}")
        if self.length:
            video, mask = fit_length(video, mask, self.length)
        b, t = video.shape[:2]
        x = video.permute(0, 4, 1, 2, 3)  # [B, T, H, W, C] -> [B, C, T, H, W]
        frames = None if mask is None else mask.reshape(b, 1, t, 1, 1)
        x = _channels(normalize(x, self.normalization, 1, frames), self.channels)
        if self.size > 0 and x.shape[-2:] != (self.size, self.size):
            # [B, C, T, H, W] -> [B*T, C, H, W] for the 2D resize, and back
            flat = x.transpose(1, 2).flatten(0, 1)
            flat = F.interpolate(flat, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
            x = flat.reshape(b, t, self.channels, self.size, self.size).transpose(1, 2)
        return x.contiguous(), mask


ADAPTERS: dict[str, type[nn.Module]] = {
    "image": ImageAdapter,
    "signal": SignalAdapter,
    "volume": VolumeAdapter,
    "video": VideoAdapter,
}
