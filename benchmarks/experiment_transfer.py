"""Does pretraining help on a task the model never saw? Scratch vs single-task vs multitask pretraining.

CLIMB's second claim is that multitask pretraining on many clinical datasets transfers better to new
tasks, few-shot and zero-shot. This script asks it at toy scale, on CPU, through the whole climb path
(raw files -> conversion -> loaders -> `climb train` with hold-outs -> encoder files -> the
`climb evaluate` machinery), and reports whatever comes out.

Data (written fresh into --work, nothing downloaded):
    A  PTB-XL tree, task ecg_superclass: the HELD-OUT dataset and task (never seen in pretraining)
    B  Challenge tree, Georgia folder, task ecg_harmonized
    S  Sleep-EDF tree (EEG Fpz-Cz/Pz-Oz, 30-s epochs), task sleep_stage
A and B are benchmarks/multitask.py's ECG corpora with label-driven morphology (mi = Q waves, sttc =
inverted T, hyp = chest-lead voltage, cd = widened QRS): the same rules in both, so what B teaches can
carry over to A by construction. S's epochs carry their stage's rhythm (alpha in W, theta in N1/REM,
spindles in N2, delta in N3). All signals go through the same channel-agnostic signal encoder.

Encoders compared (same architecture, dim, seed):
    scratch      random initialisation, never trained
    single-task  pretrained on B / ecg_harmonized alone
    multitask    pretrained on B / ecg_harmonized + S / sleep_stage, mixed 1:1, the same number of
                 steps (so it sees half as many ECGs: same compute, not same ECG data);
                 --multitask-steps 600 doubles its steps, so it sees as many ECGs as single-task
Both pretraining runs list A in their datasets and hold it out (holdout_datasets=ptbxl,
holdout_tasks=ecg_superclass), which is what `climb train` records in the encoder files.
Transfer to A / ecg_superclass, trained on A's train split, scored on its test split (strat_fold 10):
linear probe on all train samples, k-shot probe and fine-tuning for each k (seeds averaged), and
zero-shot through the registry links ecg_superclass -> ecg_harmonized (pretrained encoders only).
AUROC is macro over the 5 superclasses, with 95% bootstrap intervals over test subjects.

Usage:
    python -m benchmarks.experiment_transfer                  # about 10 minutes on 2 idle cores
    python -m benchmarks.experiment_transfer --quick          # a smoke run, about 2 minutes
Prints one table (AUROC per encoder and method) and one JSON line; per-encoder reports (results.json,
results.md, score_vs_k.png) go to --work/reports/<encoder>/, the three encoders side by side to
--work/reports/comparison.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.multitask import write_georgia, write_ptbxl
from climb.corpora.eeg import SLEEP_CHANNELS, write_edf, write_hypnogram
from climb.pipelines.convert import ConvertConfig, convert
from climb.trainer.backbones import build
from climb.trainer.config import Config
from climb.trainer.data import open_data
from climb.trainer.evaluate import Settings, evaluate_transfer
from climb.trainer.export import encoder_record, save_record
from climb.trainer.train import train
from climb.trainer.transfer_report import write_report
from climb.transforms.phi import DEMO_KEY
from climb.version import CODE_VERSION

# Stage -> (frequency Hz, amplitude uV) of the rhythm an epoch of that stage carries.
STAGE_RHYTHM = {"Sleep stage W": (10.0, 15.0), "Sleep stage 1": (6.0, 20.0), "Sleep stage 2": (13.0, 25.0),
                "Sleep stage 3": (1.5, 60.0), "Sleep stage R": (6.0, 12.0)}


def write_sleep(root: Path, subjects: int, epochs: int, seed: int) -> None:
    """A Sleep-EDF tree: one night of `epochs` 30-s epochs per subject, stages drawn at random."""
    rng = np.random.default_rng([seed, 3])
    labels, rates, units = zip(*SLEEP_CHANNELS)
    t = np.arange(epochs * 30 * 100) / 100
    for s in range(subjects):
        stages = rng.choice(list(STAGE_RHYTHM), size=epochs)
        eeg = rng.normal(0, 3, (3, t.size)).cumsum(1) * 0.05 + rng.normal(0, 3, (3, t.size))
        for e, stage in enumerate(stages):
            freq, amp = STAGE_RHYTHM[stage]
            span = slice(e * 3000, (e + 1) * 3000)
            eeg[:2, span] += amp * np.sin(2 * np.pi * freq * t[span] + rng.uniform(0, 2 * np.pi, (2, 1)))
        signals = [*eeg, *(rng.normal(0, 1, epochs * 30) for _ in range(4))]
        name = f"SC4{s:02d}1"
        write_edf(root / "sleep-cassette" / f"{name}E0-PSG.edf", signals, labels, rates, units, physical=(-200.0, 200.0))
        write_hypnogram(root / "sleep-cassette" / f"{name}EC-Hypnogram.edf",
                        [(30.0 * e, 30.0, str(stage)) for e, stage in enumerate(stages)])


def build_corpora(work: Path, args: argparse.Namespace) -> dict[str, str]:
    """Write the raw trees and convert them; returns {corpus: dataset URL}."""
    out = work / "converted"
    jobs = {"A": ("ptbxl", lambda r: write_ptbxl(r, args.ptbxl, 0), {"length_s": 5.0}),
            "B": ("challenge-ecg", lambda r: write_georgia(r, args.georgia, 0), {"length_s": 5.0}),
            "S": ("sleep-edf", lambda r: write_sleep(r, args.sleep_subjects, args.sleep_epochs, 0), {})}
    urls = {}
    for corpus, (source, writer, options) in jobs.items():
        urls[corpus] = str(out / source)
        if (out / source / "manifest.json").exists():
            continue
        raw = work / "raw" / source
        raw.mkdir(parents=True, exist_ok=True)
        writer(raw)
        convert(ConvertConfig(source=source, raw_url=str(raw), out_url=str(out), options=options, overwrite=True), DEMO_KEY)
    return urls


def pretrain(name: str, datasets: tuple[str, ...], steps: int, work: Path, args: argparse.Namespace) -> Path:
    """A `climb train` run holding A and its task out; returns its signal encoder file.

    resume=True: a finished run in --work is reused as it is (the loop has no step left to run).
    """
    cfg = Config(datasets=datasets, weights=(1.0,) * len(datasets), holdout_datasets=("ptbxl",), holdout_tasks=("ecg_superclass",),
                 steps=steps, batch_size=args.batch_size, dim=args.dim, encoder_preset=args.encoder_preset, seed=0, eval_every=steps, eval_batches=2,
                 warmup_steps=steps // 10, progress=False, resume=True, out_dir=str(work / "runs" / f"{name}-{steps}steps"))
    train(cfg, open_data(cfg, 0, 1))
    return Path(cfg.out_dir) / "encoders" / "signal.pt"


def scratch_encoder(work: Path, dim: int, preset: str) -> Path:
    """A randomly initialised signal encoder in the encoder-file format (no pretrained heads)."""
    torch.manual_seed(0)
    path = work / "runs" / "scratch" / "encoders" / "signal.pt"
    save_record(encoder_record(build("signal", dim, preset), "signal"), path)
    return path


def summary(reports: dict[str, dict[str, Any]], ks: tuple[int, ...]) -> str:
    """AUROC [95% CI] per encoder (rows) and method (columns)."""
    columns = [("probe", None), *(("kshot-finetune", k) for k in ks), *(("kshot-probe", k) for k in ks), ("zero-shot", 0)]
    header = ["encoder", "probe (all)", *(f"FT k={k}" for k in ks), *(f"LP k={k}" for k in ks), "zero-shot"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for encoder, report in reports.items():
        rows = {(r["method"], r["k"]): r["metrics"]["auroc"] for r in report["results"]}
        cells = []
        for key in columns:
            m = rows.get(key)
            if not m or m["value"] is None:
                cells.append("-")
            elif m["low"] is None:
                cells.append(f"{m['value']:.3f}")
            else:
                cells.append(f"{m['value']:.3f} [{m['low']:.2f}, {m['high']:.2f}]")
        lines.append(f"| {encoder} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_plot(reports: dict[str, dict[str, Any]], path: Path) -> None:
    """AUROC vs k of k-shot fine-tuning for every encoder (interval bands), zero-shot as markers at k=0.5."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for (name, report), color in zip(reports.items(), ("tab:gray", "tab:blue", "tab:orange")):
        rows = [r for r in report["results"] if r["method"] == "kshot-finetune"]
        ks = [r["k"] for r in rows]
        auroc = [r["metrics"]["auroc"] for r in rows]
        ax.plot(ks, [m["value"] for m in auroc], "o-", color=color, label=f"{name}: k-shot fine-tuning")
        ax.fill_between(ks, [m["low"] for m in auroc], [m["high"] for m in auroc], color=color, alpha=0.15)
        zero = [r["metrics"]["auroc"] for r in report["results"] if r["method"] == "zero-shot"]
        if zero and zero[0]["value"] is not None:
            ax.errorbar([0.5], [zero[0]["value"]], yerr=[[zero[0]["value"] - zero[0]["low"]], [zero[0]["high"] - zero[0]["value"]]],
                        fmt="s", color=color, capsize=3, label=f"{name}: zero-shot")
    ks = sorted({r["k"] for report in reports.values() for r in report["results"] if r["method"] == "kshot-finetune"})
    ax.set_xscale("log")
    ax.set_xticks([0.5, *ks], ["0", *(str(k) for k in ks)])
    ax.minorticks_off()
    ax.set_xlabel("labelled shots per class (k)")
    ax.set_ylabel("AUROC, held-out task and dataset")
    ax.set_title("ecg_superclass on an unseen PTB-XL-layout corpus (95% CI over subjects)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", default="climb-transfer", help="folder for corpora, runs and reports")
    p.add_argument("--quick", action="store_true", help="small corpora, few steps: a smoke run")
    p.add_argument("--ptbxl", type=int, default=500, help="records in A (held out)")
    p.add_argument("--georgia", type=int, default=300, help="records in B")
    p.add_argument("--sleep-subjects", type=int, default=30)
    p.add_argument("--sleep-epochs", type=int, default=10, help="30-s epochs per subject")
    p.add_argument("--steps", type=int, default=300, help="pretraining steps")
    p.add_argument("--multitask-steps", type=int, default=0,
                   help="pretraining steps of the multitask run (default --steps: same compute; 2x gives it as many ECGs)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--encoder-preset", default="small", help="encoder sizes (trainer/backbones.py PRESETS)")
    p.add_argument("--k", type=int, nargs="+", default=[1, 5, 20])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--finetune-steps", type=int, default=30)
    p.add_argument("--bootstrap", type=int, default=1000)
    args = p.parse_args()
    if args.quick:
        args.ptbxl, args.georgia, args.sleep_subjects, args.steps = 150, 80, 8, 40
        args.k, args.seeds, args.finetune_steps, args.bootstrap = [1, 5], [0], 10, 200
    torch.set_num_threads(os.cpu_count() or 1)
    work = Path(args.work)
    tic = time.perf_counter()
    urls = build_corpora(work, args)
    seconds = {"corpora": round(time.perf_counter() - tic, 1)}
    encoders = {"scratch": scratch_encoder(work, args.dim, args.encoder_preset)}
    tic = time.perf_counter()
    encoders["single-task"] = pretrain("single-task", (urls["A"], urls["B"]), args.steps, work, args)
    encoders["multitask"] = pretrain("multitask", (urls["A"], urls["B"], urls["S"]), args.multitask_steps or args.steps, work, args)
    seconds["pretraining"] = round(time.perf_counter() - tic, 1)
    settings = Settings(ks=tuple(args.k), seeds=tuple(args.seeds), bootstrap=args.bootstrap, finetune_steps=args.finetune_steps,
                        batch_size=args.batch_size)
    reports = {}
    tic = time.perf_counter()
    for name, path in encoders.items():
        reports[name] = evaluate_transfer(str(path), urls["A"], "ecg_superclass", settings, log=lambda _: None)
        write_report(reports[name], work / "reports" / name)
    seconds["transfer"] = round(time.perf_counter() - tic, 1)
    comparison_plot(reports, work / "reports" / "comparison.png")
    test = reports["scratch"]["splits"]["test"]
    print(f"\nTransfer to ecg_superclass on the held-out PTB-XL-layout corpus: test split {test['labelled']} samples, "
          f"{test['subjects']} subjects; AUROC (macro) [95% CI over subjects]; FT = k-shot fine-tuning, "
          f"LP = k-shot linear probe, k per class, mean of seeds {args.seeds}")
    print(summary(reports, tuple(args.k)))
    print(f"({seconds})\n")
    print(json.dumps({
        "question": "transfer to a held-out task: scratch vs single-task vs multitask pretraining",
        "hardware": {"cpus": os.cpu_count(), "machine": platform.machine(), "torch_threads": torch.get_num_threads(),
                     "cuda": torch.cuda.is_available()},
        "versions": {"climb": CODE_VERSION, "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "config": {k: v for k, v in vars(args).items() if k != "work"},
        "seconds": seconds,
        "results": {name: [{"method": r["method"], "k": r["k"], "shots": r["shots"], "n": r["n"], "auroc": r["metrics"]["auroc"],
                            "macro_f1": r["metrics"]["macro_f1"]} for r in report["results"]] for name, report in reports.items()},
    }))


if __name__ == "__main__":
    main()
