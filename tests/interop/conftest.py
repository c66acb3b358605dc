"""One converted dataset per modality family, written once per session, for the third-party readers.

ECG (ptbxl), 2D DICOM X-ray (vindr-cxr), CT volumes in Zarr (rspect), echo video (echonet), graphs
(connectome), multimodal EHR with tabular and text (mimic-iv), and a DICOM folder whose records mix
images, short cines (video.mp4) and a long cine kept in Zarr (preview.png): the last one is the
hardest case for readers that expect every record to hold the same members.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from climb.corpora.ecg import write_ptbxl_corpus
from climb.corpora.ehr import write_mimic_iv_corpus
from climb.corpora.graphs import write_connectome_corpus
from climb.corpora.imaging2d import write_vindr_cxr_corpus
from climb.corpora.imaging3d import write_rspect_corpus
from climb.corpora.video import write_echonet_corpus
from climb.pipelines.convert import ConvertConfig, convert
from climb.transforms.phi import DEMO_KEY

DICOM_FILES = ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "SC_rgb_jpeg_gdcm.dcm", "US1_J2KR.dcm",
               "OBXXXX1A_2frame.dcm", "emri_small.dcm")


def write_dicom_tree(root: Path) -> None:
    from pydicom.data import get_testdata_file

    for i, name in enumerate(DICOM_FILES):
        target = root / f"site{i % 2}" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(get_testdata_file(name), target)


# name -> (source, corpus writer, convert options)
DATASETS: dict[str, tuple[str, Callable[[Path], Any], dict[str, Any]]] = {
    "ptbxl": ("ptbxl", write_ptbxl_corpus, {}),
    "vindr-cxr": ("vindr-cxr", lambda root: write_vindr_cxr_corpus(root, train=12, test=4), {"size": 64}),
    "rspect": ("rspect", write_rspect_corpus, {}),
    "echonet": ("echonet", write_echonet_corpus, {}),
    "connectome": ("connectome", write_connectome_corpus, {}),
    "mimic-iv": ("mimic-iv", write_mimic_iv_corpus, {}),
    "dicom": ("dicom", write_dicom_tree, {"video_max_frames_in_tar": 4}),
}


@pytest.fixture(scope="session")
def converted(tmp_path_factory) -> Callable[[str], tuple[Path, dict[str, Any]]]:
    """name -> (dataset folder, manifest), converted once per session."""
    cache: dict[str, tuple[Path, dict[str, Any]]] = {}

    def get(name: str) -> tuple[Path, dict[str, Any]]:
        if name not in cache:
            source, writer, options = DATASETS[name]
            raw = tmp_path_factory.mktemp(f"raw-{name}")
            writer(raw)
            out = tmp_path_factory.mktemp(f"out-{name}")
            manifest = convert(ConvertConfig(source=source, raw_url=str(raw), out_url=str(out), options=options), DEMO_KEY)
            cache[name] = (out / source, manifest)
        return cache[name]

    return get


def json_members(dataset: Path) -> dict[str, dict[str, Any]]:
    """key -> decoded json member, read with tarfile (independent of the readers under test)."""
    import tarfile

    out = {}
    for shard in sorted((dataset / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, _, ext = member.name.partition(".")
                if ext == "json":
                    out[key] = json.loads(tar.extractfile(member).read())
    return out
