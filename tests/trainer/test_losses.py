"""Losses: only labelled entries count; InfoNCE only over samples that have both modalities."""

import math

import pytest
import torch
import torch.nn.functional as F

from climb.schemas.tasks import Task, get_task
from climb.trainer.losses import contrastive_loss, info_nce, multitask_loss, task_loss

BINARY = get_task("eeg_abnormal")
MULTICLASS = get_task("sleep_stage")
MULTILABEL = get_task("ecg_harmonized")
REGRESSION = Task(name="fixture_score", type="regression")
NAN = float("nan")


def test_binary_loss_ignores_masked_entries_even_when_they_hold_nan():
    logits = torch.tensor([2.0, -1.0, 0.5])
    labels = torch.tensor([1.0, NAN, 0.0])
    mask = torch.tensor([True, False, True])
    expected = F.binary_cross_entropy_with_logits(logits[[0, 2]], labels[[0, 2]])
    torch.testing.assert_close(task_loss(BINARY, logits, labels, mask), expected)


def test_multilabel_loss_masks_per_class():
    logits = torch.tensor([[1.0, -2.0], [0.3, 4.0]])
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    mask = torch.tensor([[True, False], [False, True]])
    expected = F.binary_cross_entropy_with_logits(torch.tensor([1.0, 4.0]), torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(task_loss(MULTILABEL, logits, labels, mask), expected)


def test_multiclass_loss_is_cross_entropy_over_labelled_samples():
    logits = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([2, -1, 4, 0])
    mask = torch.tensor([True, False, True, False])
    expected = F.cross_entropy(logits[[0, 2]], labels[[0, 2]])
    torch.testing.assert_close(task_loss(MULTICLASS, logits, labels, mask), expected)


@pytest.mark.parametrize("kind, fn", [("mse", F.mse_loss), ("l1", F.l1_loss)])
def test_regression_loss_is_masked_mse_or_l1(kind, fn):
    pred = torch.tensor([1.0, 2.0, 3.0])
    target = torch.tensor([1.5, NAN, 1.0])
    mask = torch.tensor([True, False, True])
    expected = fn(pred[[0, 2]], target[[0, 2]])
    torch.testing.assert_close(task_loss(REGRESSION, pred, target, mask, regression=kind), expected)


@pytest.mark.parametrize("task", [BINARY, MULTICLASS, MULTILABEL, REGRESSION], ids=lambda t: t.type)
def test_a_task_without_labels_in_the_batch_adds_a_connected_zero(task):
    width = len(task.classes) if task.type in ("multiclass", "multilabel") else None
    logits = torch.randn(3, width) if width else torch.randn(3)
    logits.requires_grad_()
    labels = torch.zeros(3, dtype=torch.long) if task.type == "multiclass" else torch.zeros_like(logits)
    mask = torch.zeros(labels.shape, dtype=torch.bool)
    loss = task_loss(task, logits, labels, mask)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_multitask_loss_weights_each_task():
    tasks = {"eeg_abnormal": BINARY, "fixture_score": REGRESSION}
    logits = {"eeg_abnormal": torch.tensor([0.0]), "fixture_score": torch.tensor([3.0])}
    labels = {"eeg_abnormal": torch.tensor([1.0]), "fixture_score": torch.tensor([1.0])}
    masks = {"eeg_abnormal": torch.tensor([True]), "fixture_score": torch.tensor([True])}
    total, per_task = multitask_loss(tasks, logits, labels, masks, weights={"fixture_score": 0.5})
    assert per_task["eeg_abnormal"].item() == pytest.approx(math.log(2))
    assert per_task["fixture_score"].item() == pytest.approx(4.0)
    assert total.item() == pytest.approx(math.log(2) + 2.0)


def test_info_nce_matches_the_symmetric_clip_loss_over_samples_with_both_modalities():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    both = torch.tensor([True, False, True, True, False])
    za, zb = F.normalize(a[both], dim=1), F.normalize(b[both], dim=1)
    logits = za @ zb.T / 0.07
    target = torch.arange(3)
    expected = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    torch.testing.assert_close(info_nce(a, b, both), expected)


def test_info_nce_ignores_the_embeddings_of_samples_missing_a_modality():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    both = torch.tensor([True, True, False, True])
    changed = b.clone()
    changed[2] = 1000.0
    torch.testing.assert_close(info_nce(a, b, both), info_nce(a, changed, both))


def test_info_nce_is_low_for_aligned_pairs_and_temperature_sharpens_it():
    a = torch.eye(4)
    both = torch.ones(4, dtype=torch.bool)
    aligned = info_nce(a, a, both)
    assert aligned.item() < 0.01
    assert info_nce(a, a, both, temperature=1.0).item() > aligned.item()


def test_contrastive_loss_skips_modality_pairs_with_fewer_than_two_shared_samples():
    tokens = torch.randn(3, 3, 8, generator=torch.Generator().manual_seed(0))
    # Modalities 0 and 1 share samples 0 and 1; modality 2 never co-occurs with two samples.
    present = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 0, 0]], dtype=torch.bool)
    expected = info_nce(tokens[:, 0], tokens[:, 1], present[:, 0] & present[:, 1])
    torch.testing.assert_close(contrastive_loss(tokens, present), expected)
    assert contrastive_loss(tokens, torch.eye(3, dtype=torch.bool)).item() == 0.0
