"""Fusion: per-sample, masked by presence, and never attending across the batch."""

import pytest
import torch
from torch import nn

from climb.trainer.fusion import FUSIONS, GatedFusion, LateFusion

B, M, D = 6, 3, 16


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(B, M, D, generator=g)
    present = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 1, 1], [0, 0, 1], [1, 0, 1], [1, 1, 0]], dtype=torch.bool)
    return tokens * present.unsqueeze(2), present


def permutes_with_batch(fusion, tokens: torch.Tensor, present: torch.Tensor) -> bool:
    """True when permuting the samples of a batch permutes the outputs the same way, and nothing else."""
    perm = torch.tensor([4, 2, 0, 5, 1, 3])
    with torch.no_grad():
        return torch.allclose(fusion(tokens, present)[perm], fusion(tokens[perm], present[perm]), atol=1e-6)


@pytest.mark.parametrize("name", sorted(FUSIONS))
def test_permuting_the_batch_permutes_the_outputs(name):
    torch.manual_seed(0)
    tokens, present = _inputs()
    assert permutes_with_batch(FUSIONS[name](M, D).eval(), tokens, present)


def independent_of_batch_mates(fusion, tokens: torch.Tensor, present: torch.Tensor) -> bool:
    """True when replacing every other sample of the batch leaves sample 0's output unchanged."""
    others, _ = _inputs(seed=1)
    swapped = torch.cat([tokens[:1], others[1:]])
    with torch.no_grad():
        return torch.allclose(fusion(tokens, present)[0], fusion(swapped, present)[0], atol=1e-6)


@pytest.mark.parametrize("name", sorted(FUSIONS))
def test_a_sample_output_does_not_depend_on_its_batch_mates(name):
    torch.manual_seed(0)
    tokens, present = _inputs()
    assert independent_of_batch_mates(FUSIONS[name](M, D).eval(), tokens, present)


def test_attention_across_the_batch_fails_the_batch_mates_check_but_not_the_permutation_check():
    # CLIMB's mistake: attention whose sequence axis is the batch. batch_first=False reads [B, M, D]
    # as [sequence=B, batch=M, D], so every sample attends to every other sample. Attention without
    # positions is permutation-equivariant along its sequence axis, so permuting the batch cannot
    # expose it; changing the batch mates does.
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(D, 2)
    mistaken = lambda t, p: attention(t, t, t)[0].mean(1)  # noqa: E731
    tokens, present = _inputs()
    assert permutes_with_batch(mistaken, tokens, present)
    assert not independent_of_batch_mates(mistaken, tokens, present)


@pytest.mark.parametrize("name", sorted(FUSIONS))
def test_absent_modalities_do_not_change_the_output(name):
    torch.manual_seed(0)
    fusion = FUSIONS[name](M, D).eval()
    tokens, present = _inputs()
    garbage = tokens + torch.randn(B, M, D) * 100 * (~present).unsqueeze(2)
    with torch.no_grad():
        torch.testing.assert_close(fusion(garbage, present), fusion(tokens, present))


@pytest.mark.parametrize("name", sorted(FUSIONS))
def test_a_sample_without_modalities_fuses_to_zeros_with_finite_gradients(name):
    torch.manual_seed(0)
    fusion = FUSIONS[name](M, D)
    tokens, present = _inputs()
    present[3] = False
    tokens = (tokens * present.unsqueeze(2)).requires_grad_()
    out = fusion(tokens, present)
    out.sum().backward()
    assert torch.equal(out[3], torch.zeros(D))
    assert torch.isfinite(out).all()
    assert torch.isfinite(tokens.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in fusion.parameters() if p.grad is not None)


def test_late_fusion_is_the_mean_of_the_present_modalities():
    tokens, present = _inputs()
    out = LateFusion(M, D)(tokens, present)
    torch.testing.assert_close(out[2], (tokens[2, 1] + tokens[2, 2]) / 2)
    torch.testing.assert_close(out[1], tokens[1, 0])


def test_gated_fusion_renormalises_the_gates_over_present_modalities():
    torch.manual_seed(0)
    fusion = GatedFusion(M, D)
    tokens, present = _inputs()
    with torch.no_grad():
        out = fusion(tokens, present)
        # Sample 3 has only modality 2: its gate must be exactly 1, whatever the gate scores.
        torch.testing.assert_close(out[3], fusion.values[2](tokens[3, 2]))
