"""Converted datasets for the catalog and view tests: PTB-XL ECGs, VinDr-CXR DICOMs and a MIMIC-IV
multimodal set, written in their real layouts and converted once per session with small shards."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import convert_demo


@pytest.fixture(scope="session")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from climb.corpora.ecg import write_ptbxl_corpus
    from climb.corpora.ehr import write_mimic_iv_corpus
    from climb.corpora.imaging2d import write_vindr_cxr_corpus

    root = tmp_path_factory.mktemp("catalog")
    writers = {
        "ptbxl": (write_ptbxl_corpus, {}),
        "vindr-cxr": (lambda p: write_vindr_cxr_corpus(p, train=12, test=4), {"size": 64}),
        "mimic-iv": (write_mimic_iv_corpus, {}),
    }
    out = {}
    for name, (write, options) in writers.items():
        write(root / "raw" / name)
        convert_demo(name, root / "raw" / name, root / "out", options=options, shard_size=60_000, workers=1)
        out[name] = root / "out" / name
    return out
