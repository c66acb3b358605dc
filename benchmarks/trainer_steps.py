"""How many training steps per second does the reference trainer make on this CPU, per modality?

One optimizer step = forward, backward and AdamW of `climb.trainer.model.MultimodalModel` (encoder,
gated fusion, one task head) under the run's autocast, on in-memory batches of real-shaped samples
(no I/O: the loader benchmarks measure that), the trainer's own loss and gradient clipping:
    signal  10-s 12-lead ECG at 500 Hz (pydicom's waveform_ecg.dcm), float32 [12, 5000]
    image   512x512 uint8 photo (scikit-image's camera), resized by the adapter to the preset's size
    volume  2 CT patches of 32x64x64 int16 HU (pydicom's CT_small, slices shifted)
    video   16 RGB frames of pydicom-data's ultrasound cine at 112x112
Each configuration runs `--warmup` steps, then `--steps` timed steps; configurations are interleaved
per modality and ratios are taken against fp32 of the same preset in the same run.

    flock -x /work/locks/cpu python -m benchmarks.trainer_steps                       # base, batch 32
    python -m benchmarks.trainer_steps --presets small --precisions fp32 --batch-size 8 --steps 2

Prints one JSON line (hardware, versions, config, results, ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

import numpy as np
import torch

MODALITIES = ("signal", "image", "volume", "video")
TASK = "eeg_abnormal"  # any binary registry task: the head is not what is measured


def samples(modality: str) -> list[torch.Tensor]:
    """Four distinct real-shaped inputs of `modality` (batches cycle through them)."""
    if modality == "signal":
        from climb.corpora.ecg import real_ecg

        ecg = real_ecg(500).astype(np.float32)
        return [torch.from_numpy(np.roll(ecg, 250 * i, axis=1).copy()) for i in range(4)]
    if modality == "image":
        from skimage import data

        camera = data.camera()
        return [torch.from_numpy(np.roll(camera, 16 * i, axis=0).copy()) for i in range(4)]
    if modality == "volume":
        import pydicom
        from pydicom.data import get_testdata_file

        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        hu = (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)).astype(np.int16)
        stack = np.stack([np.roll(hu, z, axis=0) for z in range(32)])  # [32, 128, 128]
        return [torch.from_numpy(np.stack([stack[:, :64, :64], stack[:, 64:, 64:]]).copy()) for _ in range(4)]
    from climb.corpora.video import cine_frames

    return [torch.from_numpy(cine_frames(4 * i, 16, (112, 112)).copy()) for i in range(4)]


def batch_of(modality: str, inputs: list[torch.Tensor], size: int, step: int) -> dict[str, Any]:
    """A collated batch as the loaders give it (labels alternate 0/1)."""
    from climb.loaders.collate import collate
    from climb.loaders.decode import TaskSpec

    spec = TaskSpec(TASK, "binary", 2)
    field = "volume_patches" if modality == "volume" else modality
    rows = []
    for i in range(size):
        label, mask = spec.tensors((step + i) % 2)
        rows.append({"__key__": f"s{i}", "meta": {}, field: inputs[(step + i) % len(inputs)],
                     "labels": {TASK: label}, "label_mask": {TASK: mask}})
    return collate(rows)


def measure(modality: str, preset: str, precision: str, args: argparse.Namespace) -> dict[str, Any]:
    """Steps per second of one configuration (seeded init, warmup steps not timed)."""
    from climb.schemas.tasks import get_task
    from climb.trainer.config import Config
    from climb.trainer.model import MultimodalModel
    from climb.trainer.train import autocast_dtype, losses

    device = torch.device("cpu")
    cfg = Config(tasks=(TASK,), batch_size=args.batch_size, encoder_preset=preset, precision=precision, dim=args.dim)
    torch.manual_seed(0)
    model = MultimodalModel((modality,), (get_task(TASK),), cfg.dim, cfg.fusion, preset=preset)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    amp = autocast_dtype(precision, device)
    inputs = samples(modality)
    tasks = {TASK: get_task(TASK)}
    elapsed = 0.0
    for step in range(args.warmup + args.steps):
        batch = batch_of(modality, inputs, args.batch_size, step)
        tic = time.perf_counter()
        with torch.autocast("cpu", dtype=amp, enabled=amp is not None):
            loss, _ = losses(model, batch, tasks, cfg)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        if step >= args.warmup:
            elapsed += time.perf_counter() - tic
    rate = args.steps / elapsed
    return {"modality": modality, "preset": preset, "precision": precision, "steps_per_s": round(rate, 4),
            "samples_per_s": round(rate * args.batch_size, 2), "loss_finite": bool(torch.isfinite(loss)),
            "encoder_parameters": sum(p.numel() for p in model.encoders[modality].parameters())}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--modalities", nargs="+", default=list(MODALITIES), choices=MODALITIES)
    p.add_argument("--presets", nargs="+", default=["base"], help="encoder presets (trainer/backbones.py)")
    p.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"],
                   help="autocast (fp32 is what `precision=auto` picks on a CPU)")
    p.add_argument("--batch-size", type=int, default=32, help="samples per step (the trainer's default: 32)")
    p.add_argument("--dim", type=int, default=64, help="embedding size (the trainer's default: 64)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = [measure(m, preset, precision, args) for m in args.modalities for preset in args.presets
               for precision in args.precisions]
    by_key = {(r["modality"], r["preset"], r["precision"]): r for r in results}
    ratios = {f"{m}/{preset}/bf16 vs fp32": round(by_key[(m, preset, "bf16")]["steps_per_s"] / by_key[(m, preset, "fp32")]["steps_per_s"], 3)
              for m in args.modalities for preset in args.presets if {"fp32", "bf16"} <= set(args.precisions)}
    from climb.version import CODE_VERSION

    out = {"benchmark": "trainer_steps", "hardware": {"cpus": os.cpu_count(), "machine": platform.machine(),
                                                      "torch_threads": torch.get_num_threads()},
           "versions": {"climb": CODE_VERSION, "torch": torch.__version__, "python": platform.python_version()},
           "config": {k: v for k, v in vars(args).items()}, "seed": 0, "results": results, "ratios": ratios}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
