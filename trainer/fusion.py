"""Fusion: one embedding per sample from the embeddings of that sample's modalities.

Every fusion takes tokens [B, M, dim] (modality m of sample b at tokens[b, m], zeros where absent)
and present bool [B, M], and returns [B, dim]. Reductions and attention run over the modality axis
(dim 1) only; the batch axis is never mixed, so a sample's output depends on that sample alone. CLIMB's
reference cross-attention attended across the batch instead; tests/trainer/test_fusion.py permutes the
batch to catch exactly that.

Absent modalities never contribute: each fusion masks them with `present`, and a sample with no
modality at all gets a zero embedding rather than NaN.
"""

from __future__ import annotations

import torch
from torch import nn


def masked_mean(tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Mean over present modalities: tokens [B, M, D], present [B, M] -> [B, D] (zeros if none present)."""
    weights = present.to(tokens.dtype).unsqueeze(2)
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1)


class LateFusion(nn.Module):
    """Average of the present modalities' embeddings.

    Task heads are linear, and head(mean_m z_m) = mean_m head(z_m): this is decision-level fusion,
    each modality predicting alone and the logits averaged over the modalities present.
    """

    def __init__(self, num_modalities: int, dim: int) -> None:
        super().__init__()

    def forward(self, tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        return masked_mean(tokens, present)


class EarlyFusion(nn.Module):
    """Concatenation of all modality slots plus the presence bits, then an MLP.

    The presence bits let the MLP tell an absent modality (zeros) from a present one that embeds to zeros.
    """

    def __init__(self, num_modalities: int, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(num_modalities * (dim + 1), 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim)
        )

    def forward(self, tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        bits = present.to(tokens.dtype)
        # [B, M, D] -> [B, M*D]; absent slots are zeroed so their encoder output cannot leak in.
        flat = (tokens * bits.unsqueeze(2)).flatten(1)
        return self.net(torch.cat([flat, bits], 1)) * present.any(1, keepdim=True).to(tokens.dtype)


class CrossAttentionFusion(nn.Module):
    """A transformer block over the modalities of each sample (sequence = modalities, M tokens).

    A learned modality embedding tells the tokens apart; absent modalities are masked as keys and left
    out of the final mean, so no sample ever attends to another sample or to a missing modality.
    """

    def __init__(self, num_modalities: int, dim: int, heads: int = 4) -> None:
        super().__init__()
        self.modality = nn.Parameter(torch.randn(num_modalities, dim) * 0.02)
        # batch_first=True: attention runs over dim 1 (modalities). With the default batch_first=False a
        # [B, M, D] input would be read as [sequence=B, batch=M, D] and attend across samples.
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        x = tokens + self.modality
        # A sample with no modality would have every key masked and a NaN softmax; let it attend to
        # its own zero slots instead (its output is dropped by the masked mean anyway).
        ignore = ~present & present.any(1, keepdim=True)
        attended, _ = self.attn(x, x, x, key_padding_mask=ignore, need_weights=False)
        h = self.norm1(x + attended)
        h = self.norm2(h + self.ffn(h))
        return masked_mean(h, present)


class GatedFusion(nn.Module):
    """Gated sum: each modality has its own value projection and its own gate scoring its embedding.

    The gate scores of absent modalities are masked before the softmax over modalities, so the gates of
    the present ones are renormalised to sum to 1 whatever is missing.
    """

    def __init__(self, num_modalities: int, dim: int) -> None:
        super().__init__()
        self.values = nn.ModuleList(nn.Linear(dim, dim) for _ in range(num_modalities))
        self.gates = nn.ModuleList(nn.Linear(dim, 1) for _ in range(num_modalities))

    def forward(self, tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        values = torch.stack([v(tokens[:, m]) for m, v in enumerate(self.values)], 1)  # [B, M, D]
        scores = torch.cat([g(tokens[:, m]) for m, g in enumerate(self.gates)], 1)  # [B, M]
        # A finite floor, not -inf: a sample with nothing present would get NaN from softmax(-inf, ...)
        # and NaN gradients; with the floor it gets uniform weights that the mask then zeroes.
        scores = scores.masked_fill(~present, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, 1) * present.to(scores.dtype)
        return (weights.unsqueeze(2) * values).sum(1)


FUSIONS: dict[str, type[nn.Module]] = {
    "late": LateFusion,
    "early": EarlyFusion,
    "cross_attention": CrossAttentionFusion,
    "gated": GatedFusion,
}
