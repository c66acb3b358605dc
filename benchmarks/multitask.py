"""Does multitask training beat single-task training? Single-task vs multitask on two small ECG corpora.

CLIMB reports that one model trained jointly on many clinical datasets and tasks beats a model trained
on each alone. This script asks the same question at toy scale, on CPU, in a few minutes, through the
whole climb path: raw files in their real layouts -> conversion engine -> shards -> ClimbDataset /
MixedDataset -> the reference trainer.

Data (written fresh into --work, nothing downloaded):
    A  a PTB-XL tree (records500 WFDB + ptbxl_database.csv + scp_statements.csv), --ptbxl records;
       tasks ecg_superclass (5 classes) and ecg_harmonized (7), split by strat_fold (9 val, 10 test)
    B  a PhysioNet Challenge tree, Georgia folder (WFDB_Ga .mat + .hea with SNOMED #Dx), --georgia
       records; task ecg_harmonized, subject-hashed 80/10/10 split
Signals are climb.corpora.ecg.synthetic_ecg (P-QRS-T Gaussians, 500 Hz, cropped to 5 s) with
label-driven morphology: mi = pathological Q waves in II, III, aVF, V1-V4; sttc = inverted T waves;
hyp = chest leads x2.5 (voltage criteria); cd = QRS widened by a 60 ms moving average; normal = none.
Records carry one class, or two of mi/sttc/hyp/cd. Both corpora follow the same rules, so what A
teaches transfers to B by construction: the result says whether the trainer, loaders and mixing let
that transfer happen at this scale, not anything about real ECGs.

Runs (same model, steps, batch size and seed):
    single-task A   trained on A, task ecg_superclass
    single-task B   trained on B, task ecg_harmonized
    multitask       trained on A + B mixed 1:1, tasks ecg_superclass + ecg_harmonized
Each score is on the corpus's held-out val + test splits together (no model selection is done, so
both are unseen): AUROC (macro over classes) and macro-F1 at 0.5.

Usage:
    python benchmarks/multitask.py                                   # 3 runs of 300 steps, one seed
    python benchmarks/multitask.py --steps 600 --seeds 0 1 2 --georgia 80
Cost: about 0.2 s per step on an idle core (12-lead, 5 s, batch 16), so the default is a few minutes
plus corpus writing and conversion; two seeds took 56 minutes on the 2-core development machine while
other jobs kept its load average at 7-12.
Prints the two scores side by side per task, then one JSON line (hardware, versions, config, seeds,
results).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.signal import find_peaks

from climb.corpora.ecg import PTBXL_COLUMNS, synthetic_ecg, write_challenge_record, write_scp_statements, write_wfdb
from climb.loaders import ClimbDataset, MixedDataset
from climb.pipelines.convert import ConvertConfig, convert
from climb.schemas.tasks import get_task
from climb.trainer.config import Config
from climb.trainer.data import Data, open_data
from climb.trainer.model import MultimodalModel
from climb.trainer.train import evaluate, train
from climb.transforms.phi import DEMO_KEY
from climb.version import CODE_VERSION

FS = 500
CLASSES = ("normal", "mi", "sttc", "hyp", "cd")
PTBXL_CODE = {"normal": "NORM", "mi": "IMI", "sttc": "NDT", "hyp": "LVH", "cd": "CLBBB"}
Q_LEADS = [1, 2, 5, 6, 7, 8, 9]  # II, III, aVF, V1-V4


def georgia_codes() -> dict[str, str]:
    """One SNOMED code per class from the registry's Georgia map (the lowest code mapping to that class only)."""
    table = get_task("ecg_harmonized").lookup("georgia")
    return {c: min(code for code, hit in table.items() if hit == (c,)) for c in CLASSES}


def draw_classes(rng: np.random.Generator) -> list[str]:
    if rng.random() < 0.3:
        return ["normal"]
    return list(rng.choice(CLASSES[1:], size=1 + int(rng.random() < 0.3), replace=False))


def labelled_ecg(seed: int, classes: list[str]) -> np.ndarray:
    """float64 [12, 10 * FS] in mV: a synthetic ECG with the morphology of `classes` (module docstring)."""
    x = synthetic_ecg(seed, FS)
    t = np.arange(x.shape[1]) / FS
    r_peaks = find_peaks(x[1], distance=int(0.3 * FS), height=0.5 * x[1].max())[0] / FS
    for r in r_peaks:
        if "mi" in classes:
            x[Q_LEADS] -= 0.6 * np.exp(-0.5 * ((t - r + 0.035) / 0.012) ** 2)
        if "sttc" in classes:
            window = (t > r + 0.15) & (t < r + 0.45)
            x[:, window] *= -1
    if "hyp" in classes:
        x[6:] *= 2.5
    if "cd" in classes:
        box = np.ones(int(0.06 * FS)) / int(0.06 * FS)
        x = np.stack([np.convolve(lead, box, mode="same") for lead in x])
    return x


def write_ptbxl(root: Path, n: int, seed: int) -> None:
    """A PTB-XL tree with n records, one patient each; strat_fold cycles 1..10."""
    rng = np.random.default_rng([seed, 1])
    rows = []
    for ecg_id in range(1, n + 1):
        classes = draw_classes(rng)
        group = f"{ecg_id // 1000 * 1000:05d}"
        write_wfdb(root / "records500" / group, f"{ecg_id:05d}_hr", labelled_ecg(10_000 + ecg_id, classes), FS)
        row = dict.fromkeys(PTBXL_COLUMNS, "")
        row.update(ecg_id=ecg_id, patient_id=float(ecg_id), age=60, sex=ecg_id % 2, strat_fold=1 + ecg_id % 10,
                   scp_codes=repr({PTBXL_CODE[c]: 100.0 for c in classes}),
                   filename_hr=f"records500/{group}/{ecg_id:05d}_hr", filename_lr=f"records100/{group}/{ecg_id:05d}_lr")
        rows.append(row)
    with open(root / "ptbxl_database.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(PTBXL_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    write_scp_statements(root / "scp_statements.csv")


def write_georgia(root: Path, n: int, seed: int) -> None:
    """A Challenge 2020 tree with n Georgia records (WFDB_Ga/E00001...)."""
    rng = np.random.default_rng([seed, 2])
    codes = georgia_codes()
    for i in range(1, n + 1):
        classes = draw_classes(rng)
        dx = ",".join(codes[c] for c in classes)
        write_challenge_record(root / "WFDB_Ga", f"E{i:05d}", labelled_ecg(20_000 + i, classes), FS, dx)


def build_corpora(work: Path, n_ptbxl: int, n_georgia: int, seed: int) -> dict[str, str]:
    """Write both raw trees and convert them; returns {corpus: dataset URL}."""
    out = work / "converted"
    urls = {"A": str(out / "ptbxl"), "B": str(out / "challenge-ecg")}
    if all((Path(u) / "manifest.json").exists() for u in urls.values()):
        return urls
    for name, writer, n, source in (("ptbxl", write_ptbxl, n_ptbxl, "ptbxl"), ("georgia", write_georgia, n_georgia, "challenge-ecg")):
        raw = work / "raw" / name
        raw.mkdir(parents=True, exist_ok=True)
        writer(raw, n, seed)
        convert(ConvertConfig(source=source, raw_url=str(raw), out_url=str(out), options={"length_s": 5.0},
                              overwrite=True), DEMO_KEY)
    return urls


def score(checkpoint: Path, cfg: Config, url: str, task: str) -> dict[str, Any]:
    """AUROC / macro-F1 of one task on a corpus's val + test splits, from a saved checkpoint."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    tasks = tuple(get_task(t) for t in state["tasks"])
    model = MultimodalModel(state["modalities"], tasks, cfg.dim, cfg.fusion, preset=cfg.encoder_preset, encoders=cfg.encoders)
    model.load_state_dict(state["model"])

    def held_out(rank: int, world_size: int) -> MixedDataset:
        parts = [ClimbDataset(url, split=s, shuffle=False, modalities=("signal",), tasks=(task,)) for s in ("val", "test")]
        return MixedDataset(parts, seed=0, rank=rank, world_size=world_size)

    data = Data(train=None, val=held_out, modalities=tuple(state["modalities"]), tasks=(get_task(task),))
    return evaluate(model, data, dataclasses.replace(cfg, eval_batches=0), torch.device("cpu"))[task]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", default="climb-multitask", help="folder for corpora, shards and runs")
    p.add_argument("--ptbxl", type=int, default=400, help="records in corpus A")
    p.add_argument("--georgia", type=int, default=160, help="records in corpus B")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--encoder-preset", default="small", help="encoder sizes (trainer/backbones.py PRESETS)")
    args = p.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    work = Path(args.work)
    tic = time.perf_counter()
    urls = build_corpora(work, args.ptbxl, args.georgia, seed=0)
    runs = {
        "single-task A": ((urls["A"],), ("ecg_superclass",)),
        "single-task B": ((urls["B"],), ("ecg_harmonized",)),
        "multitask": ((urls["A"], urls["B"]), ("ecg_superclass", "ecg_harmonized")),
    }
    evaluations = {"ecg_superclass on A": ("A", "ecg_superclass", "single-task A"),
                   "ecg_harmonized on B": ("B", "ecg_harmonized", "single-task B")}
    results: dict[str, dict[str, list]] = {name: {"single": [], "multi": []} for name in evaluations}
    for seed in args.seeds:
        ckpts = {}
        for run, (datasets, tasks) in runs.items():
            cfg = Config(datasets=datasets, tasks=tasks, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=seed,
                         encoder_preset=args.encoder_preset,
                         eval_every=args.steps, eval_batches=1, warmup_steps=args.steps // 10, progress=False,
                         out_dir=str(work / "runs" / f"{run.replace(' ', '_')}-seed{seed}"))
            train(cfg, open_data(cfg, 0, 1))
            ckpts[run] = (Path(cfg.out_dir) / "checkpoint.pt", cfg)
        for name, (corpus, task, single) in evaluations.items():
            results[name]["single"].append(score(*ckpts[single], urls[corpus], task))
            results[name]["multi"].append(score(*ckpts["multitask"], urls[corpus], task))

    def mean(rows: list[dict], key: str) -> float:
        return float(np.mean([r[key] for r in rows if r[key] is not None]))

    print(f"\n{'task (held-out val+test)':<26}{'metric':<10}{'single-task':>12}{'multitask':>12}   n")
    for name, both in results.items():
        for metric in ("auroc", "macro_f1"):
            print(f"{name:<26}{metric:<10}{mean(both['single'], metric):>12.3f}{mean(both['multi'], metric):>12.3f}"
                  f"   {both['single'][0]['n']}")
    print(f"({len(args.seeds)} seed(s), {args.steps} steps of {args.batch_size}, lr {args.lr}; "
          f"{time.perf_counter() - tic:.0f} s)\n")
    print(json.dumps({
        "question": "multitask vs single-task training",
        "hardware": {"cpus": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
                     "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()},
        "versions": {"climb": CODE_VERSION, "torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "config": {"ptbxl_records": args.ptbxl, "georgia_records": args.georgia, "steps": args.steps,
                   "batch_size": args.batch_size, "lr": args.lr, "length_s": 5.0, "sampling_rate": FS},
        "seeds": args.seeds,
        "results": results,
        "seconds": round(time.perf_counter() - tic, 1),
    }))


if __name__ == "__main__":
    main()
