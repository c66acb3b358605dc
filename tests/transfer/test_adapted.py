"""A fine-tuned model meets test batches that may lack its modality."""

import torch

from climb.schemas.tasks import get_task
from climb.trainer.backbones import build
from climb.trainer.probe import Adapted, LinearProbe


def test_a_batch_without_the_modality_gives_no_logits_and_no_rows():
    task = get_task("ecg_superclass")
    model = Adapted(build("signal", 8, "tiny"), "signal", LinearProbe(task, 8))
    batch = {"__key__": ["a", "b"], "signal_present": torch.tensor([False, False])}
    logits, rows = model(batch)
    assert logits.shape == (0, len(task.classes)) and len(rows) == 0
