"""Regression targets: trained in standard units of the train split, answered in the task's own units."""

import torch

from climb.pipelines.writers.manifest import task_stats
from climb.schemas.tasks import get_task
from climb.trainer.data import target_scales
from climb.trainer.heads import TaskHeads
from climb.trainer.losses import multitask_loss

EDV, EF = get_task("lv_edv"), get_task("lvef")


def _entries(split: str, values: list[float]) -> list[dict]:
    return [{"kind": "written", "split": split, "labels": {"lv_edv": v}} for v in values]


def _manifest(entries: list[dict]) -> dict:
    return {"tasks": task_stats(entries, ("lv_edv",))}


def test_the_manifest_keeps_each_splits_target_moments():
    stats = task_stats(_entries("train", [100.0, 140.0]) + _entries("test", [300.0]), ("lv_edv",))["lv_edv"]
    assert stats["split_summary"]["train"] == {"known": 2, "mean": 120.0, "std": 20.0}
    assert stats["split_summary"]["test"] == {"known": 1, "mean": 300.0, "std": 0.0}


def test_the_moments_do_not_depend_on_the_order_entries_arrive_in():
    values = [0.1 * i + 1e-9 * (i % 7) for i in range(1000)]
    forward = task_stats(_entries("train", values), ("lv_edv",))
    backward = task_stats(_entries("train", values[::-1]), ("lv_edv",))
    assert forward == backward


def test_scales_come_from_train_labels_only():
    with_test = _manifest(_entries("train", [100.0, 140.0]) + _entries("test", [1000.0] * 50))
    assert target_scales([with_test], ["lv_edv"]) == {"lv_edv": (120.0, 20.0)}


def test_scales_pool_the_train_splits_of_several_datasets():
    a, b = _entries("train", [100.0, 140.0]), _entries("train", [160.0])
    pooled = target_scales([_manifest(a), _manifest(b)], ["lv_edv"])["lv_edv"]
    together = task_stats(a + b, ("lv_edv",))["lv_edv"]["split_summary"]["train"]
    assert abs(pooled[0] - together["mean"]) < 1e-5 and abs(pooled[1] - together["std"]) < 1e-5  # manifests round to 1e-6


def test_a_constant_target_is_centred_with_unit_scale():
    assert target_scales([_manifest(_entries("train", [5.0]))], ["lv_edv"]) == {"lv_edv": (5.0, 1.0)}
    assert target_scales([_manifest(_entries("train", [5.0, 5.0]))], ["lv_edv"]) == {"lv_edv": (5.0, 1.0)}


def test_a_target_without_train_labels_is_used_as_it_is():
    assert target_scales([_manifest(_entries("test", [5.0]))], ["lv_edv"]) == {"lv_edv": (0.0, 1.0)}
    assert target_scales([{"tasks": {}}], ["lv_edv"]) == {"lv_edv": (0.0, 1.0)}


def test_classification_tasks_get_no_scale():
    assert target_scales([_manifest(_entries("train", [1.0, 2.0]))], ["lv_edv", "sleep_stage"]).keys() == {"lv_edv"}


def test_a_regression_head_answers_in_the_tasks_units_and_keeps_its_scale_with_the_weights():
    torch.manual_seed(0)
    heads = TaskHeads([EDV], dim=4, scales={"lv_edv": (120.0, 20.0)})
    fused = torch.randn(3, 4)
    raw = heads.heads["lv_edv"](fused).squeeze(1)
    torch.testing.assert_close(heads(fused)["lv_edv"], 120.0 + 20.0 * raw)
    reloaded = TaskHeads([EDV], dim=4)
    reloaded.load_state_dict(heads.state_dict())
    torch.testing.assert_close(reloaded(fused)["lv_edv"], heads(fused)["lv_edv"])


def test_a_task_in_ml_and_a_task_in_percent_weigh_alike_when_equally_wrong():
    heads = TaskHeads([EDV, EF], dim=4, scales={"lv_edv": (120.0, 40.0), "lvef": (55.0, 10.0)})
    tasks = {"lv_edv": EDV, "lvef": EF}
    # both predictions are one train-split standard deviation off
    logits = {"lv_edv": torch.tensor([160.0]), "lvef": torch.tensor([65.0])}
    labels = {"lv_edv": torch.tensor([120.0]), "lvef": torch.tensor([55.0])}
    masks = {name: torch.tensor([True]) for name in tasks}
    _, raw = multitask_loss(tasks, logits, labels, masks)
    _, standard = multitask_loss(tasks, logits, labels, masks, standardize=heads.standardized)
    assert raw["lv_edv"] / raw["lvef"] == 16.0
    torch.testing.assert_close(standard["lv_edv"], standard["lvef"])
    torch.testing.assert_close(standard["lv_edv"], torch.tensor(1.0))
