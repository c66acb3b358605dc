"""BrainGB's connectome bundles in their distributed formats: abide.npy, the ABCD HCP-2016 files, PPMI.mat.

Matrices are Pearson correlations of synthetic ROI time series (climb.corpora.graphs' generator),
small (16 ROIs) so tests stay fast. Each writer plants the awkward rows a conversion must handle
and returns what a correct conversion finds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from climb.corpora.graphs import _correlation

N_ROIS = 16
ABIDE_SITES = ("NYU", "UM_1", "USM")


def _matrices(seed: int, n: int, n_rois: int = N_ROIS) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([_correlation(rng, n_rois, 60) for _ in range(n)])


def _describe(labels: dict[str, Any], bad: dict[str, str]) -> dict[str, Any]:
    counts = {"discovered": len(labels) + len(bad), "written": len(labels), "quarantined": len(bad), "excluded": 0}
    return {"counts": counts, "labels": labels, "quarantined": bad}


def write_abide_bundle(root: str | os.PathLike, *, subjects: int = 15) -> dict[str, Any]:
    """abide.npy as BrainGB saves it: np.save of a dict (a pickled 0-d object array).

    Subject 3's matrix holds NaN (an empty ROI) and is quarantined; subject 5's label is 2, which
    maps nowhere and is masked.

    Returns:
        counts, `labels` {sample id: raw label}, `sites` {sample id: site}, `quarantined`
        {sample id: message start}, `corr` the matrices.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    corr = _matrices(7, subjects)
    corr[3, 2, :] = np.nan
    labels = np.array([i % 2 for i in range(subjects)])
    labels[5] = 2
    sites = np.array([ABIDE_SITES[i % len(ABIDE_SITES)] for i in range(subjects)])
    timeseries = np.zeros((subjects, 4, N_ROIS), dtype=np.float32)
    np.save(root / "abide.npy", {"timeseires": timeseries, "label": labels, "corr": corr, "pcorr": corr.copy(), "site": sites},
            allow_pickle=True)
    ids = [f"abide.npy#{i:05d}" for i in range(subjects)]
    bad = {ids[3]: "matrix"}
    description = _describe({sid: str(labels[i]) for i, sid in enumerate(ids) if sid not in bad}, bad)
    return {**description, "sites": dict(zip(ids, sites.tolist())), "corr": corr}


def write_abcd_bundle(root: str | os.PathLike, *, subjects: int = 10) -> dict[str, Any]:
    """abcd_rest-pearson-HCP2016.npy [N, R, R], ids_HCP2016.txt and id2sex.txt (header "id,sex").

    id2sex.txt lists the subjects in a different order from the matrix rows (alignment must go by
    id), one subject has no sex row (masked) and an extra id without a matrix is ignored.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    corr = _matrices(11, subjects)
    ids = [f"NDAR_INV{i:04d}ABCD" for i in range(subjects)]
    sex = {sid: "MF"[(i * 7) % 3 % 2] for i, sid in enumerate(ids)}
    unknown = ids[4]
    np.save(root / "abcd_rest-pearson-HCP2016.npy", corr)
    (root / "ids_HCP2016.txt").write_text("".join(f"{sid}\n" for sid in ids))
    rows = [f"{sid},{sex[sid]}" for sid in reversed(ids) if sid != unknown] + ["NDAR_INV9999ZZZZ,F"]
    (root / "id2sex.txt").write_text("id,sex\n" + "".join(f"{r}\n" for r in rows))
    labels = {f"abcd_rest-pearson-HCP2016.npy#{sid}": (None if sid == unknown else sex[sid]) for sid in ids}
    return {**_describe(labels, {}), "corr": corr, "ids": ids}


def write_ppmi_bundle(root: str | os.PathLike, *, subjects: int = 12) -> dict[str, Any]:
    """PPMI.mat with scipy.io.savemat: `X` an (N, 1) cell of [R, R, 3] matrices, `label` (N, 1) of -1/1.

    Subject 2's cell is [R, R] (a view missing) and is quarantined; subject 6's label is 0, masked.
    """
    from scipy.io import savemat

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    views = np.stack([_matrices(20 + v, subjects) for v in range(3)], axis=-1)  # [N, R, R, 3]
    cells = np.empty((subjects, 1), dtype=object)
    for i in range(subjects):
        cells[i, 0] = views[i, :, :, 0] if i == 2 else views[i]
    labels = np.array([[1 if i % 3 else -1] for i in range(subjects)])
    labels[6, 0] = 0
    savemat(root / "PPMI.mat", {"X": cells, "label": labels})
    ids = [f"PPMI.mat#{i:05d}" for i in range(subjects)]
    bad = {ids[2]: "PPMI matrix 2 has shape"}
    return {**_describe({sid: str(labels[i, 0]) for i, sid in enumerate(ids) if sid not in bad}, bad), "views": views}
