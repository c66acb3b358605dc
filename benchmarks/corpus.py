"""The benchmark's raw corpora in their real layouts, and climb's conversion of them.

Two sets, both converted by `climb convert` (the real pipeline: discover -> Beam -> shards):

- pairs: `cxr-ecg-pairs` (benchmarks/pairs_source.py), one chest X-ray JPG + one 12-lead 10 s
  500 Hz WFDB ECG per study. Pixels are pydicom-data's real chest radiograph (a distinct crop/flip
  per study), ECGs are climb.corpora.ecg.synthetic_ecg beats with per-study noise. Converted, a
  sample is the benchmark sample: a 224x224 uint8 grayscale PNG, a 12x5000 float32 npy and the
  metadata JSON (~275 KB).
- volumes: `nifti`, int16 CT volumes (CT_small's real slice stacked and rolled, [Z, 128, 128] HU,
  climb.corpora.imaging3d.stacked_ct) written with nibabel; climb stores each in volumes.zarr with
  a preview PNG in the tar.

WFDB records are written directly (header text + little-endian int16 samples, format 16, gain 1000
per mV, as PTB-XL): wfdb.wrsamp takes ~90 ms a record, which would dominate building 4,000 of them.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from climb.transforms.phi import DEMO_KEY
from climb.transforms.signal import ECG_LEADS

PAIRS_SOURCE = "cxr-ecg-pairs"
PAIRS_MODULE = "benchmarks.pairs_source"
VOLUME_SOURCE = "nifti"
VOLUME_SHAPE = (64, 128, 128)
FS = 500
GAIN = 1000.0
BASE_ECGS = 16


def write_wfdb16(folder: Path, name: str, signal_mv: np.ndarray, fs: int = FS) -> None:
    """A format-16 WFDB record (.hea + .dat) of a [C, T] signal in mV, byte-compatible with wfdb.wrsamp."""
    digital = np.clip(np.round(signal_mv * GAIN), -32767, 32767).astype("<i2")
    channels, length = digital.shape
    (folder / f"{name}.dat").write_bytes(digital.T.tobytes())
    lines = [f"{name} {channels} {fs} {length}"]
    for c, lead in enumerate(ECG_LEADS[:channels]):
        checksum = int(digital[c].astype(np.int64).sum()) % 65536
        checksum = checksum - 65536 if checksum > 32767 else checksum
        lines.append(f"{name}.dat 16 {GAIN:g}(0)/mV 16 0 {int(digital[c, 0])} {checksum} 0 {lead}")
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")


def write_pairs_corpus(root: Path, n: int, seed: int = 0) -> Path:
    """n studies of 4 per subject in the cxr-ecg-pairs layout (module docstring); returns root."""
    import cv2

    from climb.corpora.ecg import synthetic_ecg
    from climb.corpora.imaging2d import chest_display, variant

    if (root / "pairs.csv").exists():
        return root
    rng = np.random.default_rng(seed)
    chest = chest_display(factor=4)
    bases = [synthetic_ecg(seed * 1000 + k, FS) for k in range(BASE_ECGS)]
    rows = []
    for i in range(n):
        subject, study = f"{10_000_000 + i // 4}", f"{50_000_000 + i}"
        folder = root / "files" / f"p{subject}" / f"s{study}"
        folder.mkdir(parents=True, exist_ok=True)
        ok, jpg = cv2.imencode(".jpg", variant(chest, i), [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise RuntimeError("OpenCV could not encode a JPG")
        (folder / "cxr.jpg").write_bytes(jpg.tobytes())
        ecg = bases[i % BASE_ECGS] * rng.uniform(0.8, 1.2) + rng.normal(0, 0.02, bases[0].shape)
        write_wfdb16(folder, "ecg", ecg)
        rows.append({"subject_id": subject, "study_id": study, "label": str(i % 2)})
    with open(root / "pairs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["subject_id", "study_id", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def write_volume_corpus(root: Path, n: int) -> Path:
    """n int16 CT volumes VOLUME_SHAPE [Z, Y, X] as NIfTI files (1 x 1 x 2.5 mm), each shifted differently."""
    import nibabel as nib

    from climb.corpora.imaging3d import stacked_ct

    if root.exists() and len(list(root.glob("*.nii"))) == n:
        return root
    root.mkdir(parents=True, exist_ok=True)
    base = stacked_ct(VOLUME_SHAPE[0])
    for i in range(n):
        zyx = np.roll(base, 3 * i, axis=2)
        affine = np.diag([1.0, 1.0, 2.5, 1.0])
        nib.save(nib.Nifti1Image(np.ascontiguousarray(np.transpose(zyx, (2, 1, 0))), affine), root / f"ct{i:05d}.nii")
    return root


def climb_convert(source: str, raw: Path, out: Path, options: dict[str, str], shard_size: int,
                  workers: int = 2, extra: tuple[str, ...] = (), env: dict[str, str] | None = None) -> dict:
    """Run `climb convert` as a user would (its CLI, in a fresh process) and return the manifest.

    The benchmark's own source is registered first in that process (pairs_source's docstring says
    why): `python -c "register(...); climb.cli.main([...])"` is `climb convert` plus one line.
    """
    import json

    args = ["convert", source, str(raw), str(out), "--workers", str(workers), "--shard-size", str(shard_size),
            "--overwrite", "--no-progress", *extra]
    for key, value in options.items():
        args += ["--option", f"{key}={value}"]
    code = (
        "import sys\n"
        "from climb.pipelines.sources import register\n"
        f"register({PAIRS_SOURCE!r}, {PAIRS_MODULE!r})\n"
        "from climb.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    repo = str(Path(__file__).resolve().parent.parent)
    child_env = {**os.environ, "CLIMB_HMAC_KEY": os.environ.get("CLIMB_HMAC_KEY", DEMO_KEY.decode()),
                 "PYTHONPATH": os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p), **(env or {})}
    subprocess.run([sys.executable, "-c", code, *args], check=True, env=child_env, cwd=repo,
                   stdout=subprocess.DEVNULL)
    manifest = json.loads((out / source / "manifest.json").read_text())
    counts = manifest["counts"]
    if counts["written"] != counts["discovered"]:
        raise RuntimeError(f"climb convert {source} wrote {counts['written']} of {counts['discovered']}: {counts}")
    return manifest
