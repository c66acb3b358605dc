"""`climb evaluate` end to end: an encoder pretrained on one ECG corpus, transferred to a held-out one."""

import json

import pytest

from climb.cli import main

FAST = ["--k", "1,2", "--seeds", "0", "--bootstrap", "50", "--finetune-steps", "2", "--batch-size", "8"]


@pytest.fixture(scope="module")
def report(pretrained, ptbxl, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate")
    code = main(["evaluate", str(pretrained / "encoders" / "signal.pt"), str(ptbxl), "--task", "ecg_superclass", *FAST,
                 "--out", str(out)])
    assert code == 0
    return out


def test_every_method_reports_a_row_per_k(report):
    rows = json.loads((report / "results.json").read_text())["results"]
    assert [(r["method"], r["k"]) for r in rows] == [
        ("probe", None), ("kshot-probe", 1), ("kshot-probe", 2), ("kshot-finetune", 1), ("kshot-finetune", 2), ("zero-shot", 0)]
    for row in rows:
        assert set(row["metrics"]) == {"auroc", "macro_f1"}
        assert {"value", "low", "high", "replicates", "seed_values"} <= set(row["metrics"]["macro_f1"])


def test_the_report_says_what_was_trained_on_and_how_intervals_were_made(report, ptbxl):
    data = json.loads((report / "results.json").read_text())
    assert data["bootstrap"]["unit"] == "subject" and data["bootstrap"]["replicates"] == 50
    assert data["encoder"]["holdout"]["datasets"] == ["ptbxl"]
    assert data["dataset"]["source"] == "ptbxl" and len(data["dataset"]["manifest_sha256"]) == 64
    assert data["splits"]["test"]["labelled"] == 2
    assert data["zero_shot"]["classes"]["MI"] == "ecg_harmonized/mi"


def test_the_table_and_the_plot_are_written(report):
    table = (report / "results.md").read_text()
    assert "| method | k | shots | AUROC | macro-F1 | n |" in table
    assert "| kshot-finetune | 2 |" in table and "Zero-shot class map: NORM <- ecg_harmonized/normal" in table
    assert (report / "score_vs_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_zero_shot_of_a_task_with_no_linked_class_is_refused_in_one_line(pretrained, tuab, tmp_path, capsys):
    code = main(["evaluate", str(pretrained / "encoders" / "signal.pt"), str(tuab), "--task", "eeg_abnormal",
                 "--methods", "zero-shot", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("climb evaluate: task eeg_abnormal: none of its classes") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results.json").exists()


def test_a_task_the_dataset_does_not_label_is_refused(pretrained, tuab, tmp_path, capsys):
    assert main(["evaluate", str(pretrained / "encoders" / "signal.pt"), str(tuab), "--task", "ecg_superclass",
                 "--out", str(tmp_path)]) == 2
    assert "does not label task 'ecg_superclass'" in capsys.readouterr().err



def test_no_shot_comes_from_a_patient_of_the_test_split(report, ptbxl):
    from climb.loaders import ClimbDataset

    def subjects(split):
        return {s["__key__"]: s["meta"]["subject_id"] for s in ClimbDataset(str(ptbxl), split=split, shuffle=False, modalities=("signal",))}

    rows = json.loads((report / "results.json").read_text())["results"]
    shot_keys = {k for row in rows if row["method"].startswith("kshot") for seed in row["shot_keys"] for k in seed}
    train, test = subjects("train"), subjects("test")
    assert shot_keys <= set(train) and not {train[k] for k in shot_keys} & set(test.values())


def test_a_test_split_that_shares_every_patient_with_the_train_split_leaves_nothing_to_train_on(pretrained, ptbxl, tmp_path, capsys):
    # The engine keeps each patient in one split; pointing both at the same split is the extreme case.
    assert main(["evaluate", str(pretrained / "encoders" / "signal.pt"), str(ptbxl), "--task", "ecg_superclass",
                 "--train-split", "train", "--test-split", "train", "--out", str(tmp_path)]) == 2
    assert "no labelled sample of a subject outside the train split" in capsys.readouterr().err


def test_small_k_runs_enough_seeds_and_reports_their_spread(report):
    rows = json.loads((report / "results.json").read_text())["results"]
    for row in rows:
        if row["method"].startswith("kshot"):
            assert row["seeds"] == list(range(10))  # --seeds 0, extended to 10 draws for k <= 5
            assert len(row["metrics"]["macro_f1"]["seed_values"]) == 10 and len(row["shots"]) == 10
            assert "seed_std" in row["metrics"]["macro_f1"]
    assert json.loads((report / "results.json").read_text())["bootstrap"]["seeds_resampled"] is True


def test_a_dataset_the_encoder_was_pretrained_on_is_refused_unless_allowed(pretrained, challenge, tmp_path, capsys):
    args = ["evaluate", str(pretrained / "encoders" / "signal.pt"), str(challenge), "--task", "ecg_harmonized",
            "--methods", "probe", "--bootstrap", "20", "--out", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "pretrained on task ecg_harmonized" in err and "--allow-seen" in err
    assert main([*args, "--allow-seen"]) == 0


def test_a_task_the_encoder_was_pretrained_on_is_refused_on_another_dataset(pretrained, ptbxl, tmp_path, capsys):
    assert main(["evaluate", str(pretrained / "encoders" / "signal.pt"), str(ptbxl), "--task", "ecg_harmonized",
                 "--methods", "probe", "--out", str(tmp_path)]) == 2
    assert "pretrained on task ecg_harmonized" in capsys.readouterr().err


def test_a_pretrained_dataset_is_recognised_under_another_task(pretrained, challenge, tmp_path):
    from climb.trainer.evaluate import Settings, Transfer
    from climb.trainer.export import read_encoder_file

    record = read_encoder_file(pretrained / "encoders" / "signal.pt")
    record["tasks"] = []  # only the dataset is left to give it away
    with pytest.raises(ValueError, match="pretrained on .*challenge-ecg.*same source, sha256"):
        Transfer(record, str(challenge), "ecg_harmonized", Settings(methods=("probe",)))


def test_a_baseline_encoder_is_compared_on_the_same_shots_with_a_paired_bootstrap(pretrained, ptbxl, tmp_path):
    import torch

    from climb.trainer.backbones import build
    from climb.trainer.export import encoder_record, save_record

    torch.manual_seed(1)
    scratch = tmp_path / "scratch.pt"
    save_record(encoder_record(build("signal", 16, "tiny"), "signal"), scratch)
    assert main(["evaluate", str(pretrained / "encoders" / "signal.pt"), str(ptbxl), "--task", "ecg_superclass",
                 "--methods", "probe,kshot-probe", "--k", "1", "--seeds", "0", "--small-k-seeds", "3", "--bootstrap", "30",
                 "--baseline", str(scratch), "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = report["comparison"]["rows"]
    assert [(r["method"], r["k"]) for r in rows] == [("probe", None), ("kshot-probe", 1)]
    ours = {(r["method"], r["k"]): r for r in report["results"]}
    theirs = {(r["method"], r["k"]): r for r in report["comparison"]["baseline"]["results"]}
    assert ours[("kshot-probe", 1)]["shot_keys"] == theirs[("kshot-probe", 1)]["shot_keys"]  # paired by shot draw
    for row in rows:
        f1 = row["metrics"]["macro_f1"]
        a, b = ours[(row["method"], row["k"])], theirs[(row["method"], row["k"])]
        assert f1["difference"] == pytest.approx(a["metrics"]["macro_f1"]["value"] - b["metrics"]["macro_f1"]["value"])
        assert {"low", "high", "replicates", "share_not_above_zero"} <= set(f1)
    assert "Paired differences" in (tmp_path / "out" / "results.md").read_text()
