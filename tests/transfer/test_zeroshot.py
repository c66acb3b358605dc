"""Zero-shot class links come from the task registry; a task with no linked class is refused."""

import numpy as np
import pytest
import torch

from climb.schemas.tasks import Task, get_task
from climb.trainer.zeroshot import ClassLink, NoMappedClasses, class_links, zero_shot_links, zero_shot_metrics, zero_shot_scores

HARMONIZED, SUPERCLASS = get_task("ecg_harmonized"), get_task("ecg_superclass")


def described(links, pretrained):
    tasks = {t.name: t for t in pretrained}
    return [link.describe(tasks) if link else None for link in links]


def test_superclasses_are_scored_by_the_harmonized_classes_the_registry_links():
    links = zero_shot_links(SUPERCLASS, [HARMONIZED])
    assert described(links, [HARMONIZED]) == [
        "ecg_harmonized/normal", "ecg_harmonized/mi", "ecg_harmonized/sttc", "ecg_harmonized/cd", "ecg_harmonized/hyp"]


def test_links_work_in_reverse_and_unlinked_classes_stay_unscored():
    links = class_links(HARMONIZED, [SUPERCLASS])
    assert dict(zip(HARMONIZED.classes, described(links, [SUPERCLASS]))) == {
        "normal": "ecg_superclass/NORM", "cd": "ecg_superclass/CD", "mi": "ecg_superclass/MI", "sttc": "ecg_superclass/STTC",
        "other": None, "afib": None, "hyp": "ecg_superclass/HYP"}


def test_a_task_pretrained_itself_is_never_scored_by_its_own_head():
    links = class_links(SUPERCLASS, [HARMONIZED, SUPERCLASS])
    assert {link.task for link in links if link} == {"ecg_harmonized"}


def test_a_task_whose_only_link_is_its_own_head_has_nothing_to_score():
    with pytest.raises(NoMappedClasses):
        zero_shot_links(SUPERCLASS, [SUPERCLASS])


def test_a_task_with_no_linked_class_is_refused_with_a_clear_message():
    with pytest.raises(NoMappedClasses) as err:
        zero_shot_links(get_task("eeg_abnormal"), [HARMONIZED])
    message = str(err.value)
    assert "eeg_abnormal" in message and "ecg_harmonized" in message and "zero_shot" in message


def test_a_regression_task_is_refused():
    with pytest.raises(NoMappedClasses, match="regression"):
        zero_shot_links(get_task("lvef"), [HARMONIZED])


def test_a_link_to_an_unknown_class_fails_when_the_task_is_defined():
    with pytest.raises(ValueError, match="zero_shot"):
        Task(name="t", type="binary", classes=("no", "yes"), zero_shot={"maybe": "ecg_harmonized/mi"})


def test_scores_are_the_linked_class_probabilities_and_binary_class_0_is_the_complement():
    binary = Task(name="pretrained_binary", type="binary", classes=("absent", "present"))
    links = [ClassLink(0, "pretrained_binary", 0), None, ClassLink(2, "ecg_harmonized", 2)]
    logits = {"pretrained_binary": torch.tensor([0.0, 2.0]), "ecg_harmonized": torch.zeros(2, 7)}
    scores = zero_shot_scores(links, logits, {"pretrained_binary": binary, "ecg_harmonized": HARMONIZED})
    assert np.allclose(scores[:, 0], 1 - torch.sigmoid(torch.tensor([0.0, 2.0])).numpy())
    assert np.isnan(scores[:, 1]).all() and np.allclose(scores[:, 2], 0.5)


def test_metrics_cover_the_linked_classes_only():
    sleep = get_task("sleep_stage")
    labels = np.asarray([0, 0, 1, 2, 3, 4])
    scores = np.full((6, 5), np.nan)
    scores[:, 0] = [0.9, 0.8, 0.1, 0.2, 0.3, 0.1]  # W linked and perfectly ranked; the rest unlinked
    metrics = zero_shot_metrics(sleep, scores, labels, np.ones(6, bool))
    assert metrics == {"auroc": 1.0, "macro_f1": 1.0, "n": 6}
