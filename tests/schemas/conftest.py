"""Samples built from real files that ship inside installed packages (pydicom, scikit-image, rdkit)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from climb.schemas.sample import Sample
from climb.schemas.tasks import TASKS, Task

TEST_TASKS = (
    Task("test_binary", "binary", ("negative", "positive"), source_maps={"testsrc": {"pos": "positive", "neg": "negative"}}),
    Task("test_multilabel", "multilabel", ("a", "b", "c"), source_maps={"testsrc": {"A1": "a", "AB": ("a", "b")}}),
    Task("test_regression", "regression", units="mmHg"),
)


@pytest.fixture
def test_tasks(monkeypatch: pytest.MonkeyPatch) -> dict[str, Task]:
    """Register tasks owned by these tests, so the tests do not depend on any family's task list."""
    for task in TEST_TASKS:
        monkeypatch.setitem(TASKS, task.name, task)
    return {t.name: t for t in TEST_TASKS}


def _ecg() -> tuple[np.ndarray, dict]:
    """The real 12-lead ECG in pydicom's waveform_ecg.dcm as float32 [C, T] in mV."""
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("waveform_ecg.dcm"))
    group = ds.WaveformSequence[0]
    # waveform_array: [T, C] in the channel sensitivity units (uV here)
    signal = (ds.waveform_array(0).T / 1000.0).astype(np.float32)
    channels = [c.ChannelSourceSequence[0].CodeMeaning.replace("Lead ", "").split(" ")[0] for c in group.ChannelDefinitionSequence]
    return signal, {"sampling_rate": float(group.SamplingFrequency), "channels": channels, "units": "mV"}


def _ct_volume() -> np.ndarray:
    """CT_small.dcm's int16 slice stacked into a 3-slice [Z, Y, X] volume."""
    import pydicom
    from pydicom.data import get_testdata_file

    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    pixels = ct.pixel_array.astype(np.int16)
    return np.stack([pixels, np.flipud(pixels), np.fliplr(pixels)])


def _molecule_graph() -> dict[str, np.ndarray]:
    """The first molecule of rdkit's NCI first_5K.smi as x [N, 2], edge_index [2, 2B], edge_attr [2B, 1]."""
    from rdkit import Chem, RDConfig

    with open(os.path.join(RDConfig.RDDataDir, "NCI", "first_5K.smi")) as f:
        smiles = f.readline().split()[0]
    mol = Chem.MolFromSmiles(smiles)
    x = np.array([[a.GetAtomicNum(), a.GetDegree()] for a in mol.GetAtoms()], dtype=np.float32)
    pairs, attrs = [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        pairs += [(i, j), (j, i)]
        attrs += [[bond.GetBondTypeAsDouble()]] * 2
    edge_index = np.array(pairs, dtype=np.int64).T
    return {"x": x, "edge_index": edge_index, "edge_attr": np.array(attrs, dtype=np.float32)}


@pytest.fixture(scope="session")
def multimodal_sample() -> Sample:
    """One valid sample carrying every field of the schema, from real packaged data."""
    from skimage import data

    signal, signal_meta = _ecg()
    astronaut = data.astronaut()
    # video: 6 frames [T, H, W, 3] panning across the astronaut photo
    video = np.stack([astronaut[100 : 164, 100 + 8 * t : 164 + 8 * t] for t in range(6)])
    return Sample(
        arrays={
            "image": (data.camera().astype(np.uint16) * 257),
            "signal": signal,
            "video": np.ascontiguousarray(video),
            "volume": _ct_volume(),
            "graph": _molecule_graph(),
            "text": "Sinus rhythm. No acute ST changes. Ärztlicher Befund: unauffällig.",
            "tabular": {"age_years": 63.0, "heart_rate_bpm": 72.0, "lactate_mmol_l": None},
        },
        meta={
            "image": {"spacing": [0.139, 0.139]},
            "signal": signal_meta,
            "video": {"fps": 25.0, "num_frames": 6},
            "volume": {"spacing": [5.0, 0.661468, 0.661468], "orientation": "RAS"},
            "window": "soft_tissue",
        },
        labels={},
    )
