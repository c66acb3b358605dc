"""The whole model on a batch with every modality, some absent, some labels masked."""

import pytest
import torch

from climb.trainer.fusion import FUSIONS
from climb.trainer.losses import contrastive_loss, multitask_loss
from climb.trainer.model import MultimodalModel

from climb.loaders.collate import collate

from .conftest import MODALITIES, TASKS, synthetic_sample


def _model(fusion: str) -> MultimodalModel:
    torch.manual_seed(0)
    return MultimodalModel(MODALITIES, TASKS, dim=16, fusion=fusion, preset="tiny")


def test_the_fixture_batch_really_misses_modalities_and_labels(batch):
    present = _model("late").presence(batch)
    assert (~present).any(0).all()  # every modality is absent somewhere
    assert present.any(1).all()  # every sample has something
    assert not batch["label_mask"]["sleep_stage"].all()


@pytest.mark.parametrize("fusion", sorted(FUSIONS))
def test_one_training_step_per_fusion_gives_finite_gradients_and_changes_the_weights(fusion, batch):
    model = _model(fusion)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tasks = {t.name: t for t in TASKS}
    logits, projected, present = model(batch)
    loss, _ = multitask_loss(tasks, logits, batch["labels"], batch["label_mask"])
    loss = loss + 0.1 * contrastive_loss(projected, present)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert torch.isfinite(loss)
    assert all(torch.isfinite(g).all() for g in grads)
    for m in MODALITIES:  # every encoder learned from the samples that have its modality
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoders[m].parameters())
    before = [p.detach().clone() for p in model.parameters()]
    optimizer.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


@pytest.mark.parametrize("fusion", sorted(FUSIONS))
def test_permuting_the_samples_permutes_the_model_outputs(fusion):
    model = _model(fusion).eval()
    samples = [synthetic_sample(1, i) for i in range(8)]
    order = [5, 2, 7, 0, 3, 1, 6, 4]
    with torch.no_grad():
        straight, _, _ = model(collate(samples))
        permuted, _, _ = model(collate([samples[i] for i in order]))
    for name in straight:
        torch.testing.assert_close(permuted[name], straight[name][order], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fusion", sorted(FUSIONS))
def test_a_sample_gets_the_same_outputs_alone_and_in_a_batch(fusion):
    model = _model(fusion).eval()
    samples = [synthetic_sample(2, i) for i in range(6)]
    with torch.no_grad():
        together, _, _ = model(collate(samples))
        alone, _, _ = model(collate(samples[3:4]))
    for name in together:
        torch.testing.assert_close(alone[name], together[name][3:4], rtol=1e-4, atol=1e-5)


def test_absent_modality_inputs_are_never_encoded(batch):
    model = _model("gated").eval()
    poisoned = dict(batch)
    absent = ~batch["image_present"]
    poisoned["image"] = batch["image"].clone()
    poisoned["image"][absent] = 255
    with torch.no_grad():
        clean, _, _ = model(batch)
        dirty, _, _ = model(poisoned)
    for name in clean:
        torch.testing.assert_close(clean[name], dirty[name])
