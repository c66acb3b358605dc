"""The trainer benchmark measures a real optimizer step and prints one JSON line."""

from __future__ import annotations

import json

from benchmarks import trainer_steps


def test_a_tiny_run_times_training_steps_and_prints_one_json_line(capsys):
    result = trainer_steps.main(["--modalities", "signal", "--presets", "tiny", "--precisions", "fp32", "bf16",
                                 "--batch-size", "2", "--steps", "1", "--threads", "1"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == json.loads(json.dumps(result))
    assert [(r["preset"], r["precision"]) for r in result["results"]] == [("tiny", "fp32"), ("tiny", "bf16")]
    assert all(r["steps_per_s"] > 0 and r["loss_finite"] for r in result["results"])
    assert set(result["ratios"]) == {"signal/tiny/bf16 vs fp32"}
    assert {"hardware", "versions", "config", "seed"} <= set(result)
