"""The raw corpus of every registered source: the small real-layout corpora the other test suites
convert (climb.corpora writers, pydicom's and nibabel's shipped files), with the options those suites
convert them with.

`CORPORA[source]` is (write, options): `write(root)` writes the corpus under `root` and returns the
folder to convert. tests/interop/test_every_source.py converts each once per session and opens the
result with Hugging Face datasets and mlcroissant.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from climb.corpora import braingb, cholec80, ecg, eeg, eeg_events, ehr, graphs, imaging2d, imaging3d, inspect_ctpa, mammo, video
from climb.corpora.folders import WRITERS as SPEC_WRITERS

# Real DICOM files shipped with pydicom (tests/pipelines/conftest.py's tree without its RLE and
# JPEG-LS copies of MR_small): CT, MR, JPEG 2000, colour JPEG, a palette-colour and a 10-frame cine.
DICOM_FILES = ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "SC_rgb_jpeg_gdcm.dcm", "US1_J2KR.dcm",
               "OBXXXX1A_2frame.dcm", "emri_small.dcm")


def write_dicom_tree(root: Path) -> Path:
    from pydicom.data import get_testdata_file

    for i, name in enumerate(DICOM_FILES):
        target = root / f"site{i % 2}" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(get_testdata_file(name), target)
    return root


def write_nifti_folder(root: Path) -> Path:
    from nibabel.testing import data_path

    for name in ("anatomical.nii", "example4d.nii.gz"):
        shutil.copy(Path(data_path) / name, root / name)
    return root


def write_molecules(root: Path) -> Path:
    """ogbg-molhiv's layout and RDKit's SD file with properties; RDKit's 5,000-line NCI SMILES file
    is left out to keep the corpus small (the SD records cover the same reader path with labels)."""
    graphs.write_molecule_corpus(root)
    (root / "nci" / "first_5K.smi").unlink()
    return root


def _at(writer: Callable[..., Any], sub: str = "", **kwargs: Any) -> Callable[[Path], Path]:
    """A writer that returns the folder to convert: `root/sub` (the corpus' own root when it says)."""

    def write(root: Path) -> Path:
        result = writer(root, **kwargs)
        if isinstance(result, dict) and "root" in result and not sub:
            return Path(result["root"])
        return root / sub if sub else root

    return write


Corpus = tuple[Callable[[Path], Path], dict[str, Any]]

CORPORA: dict[str, Corpus] = {
    # folders of the user's own files
    "dicom": (write_dicom_tree, {"video_max_frames_in_tar": 4}),
    "nifti": (write_nifti_folder, {}),
    "video": (_at(video.write_video_corpus), {"labels": "labels.csv", "subject_column": "patient", "num_frames": 6}),
    # 2D imaging
    "chexpert": (_at(imaging2d.write_chexpert_corpus), {}),
    "mimic-cxr": (_at(imaging2d.write_mimic_cxr_corpus), {}),
    "vindr-cxr": (_at(imaging2d.write_vindr_cxr_corpus, train=12, test=4), {"size": 64}),
    "ham10000": (_at(imaging2d.write_ham10000_corpus), {}),
    "aptos": (_at(imaging2d.write_aptos_corpus), {}),
    "cbis-ddsm": (_at(imaging2d.write_cbis_ddsm_corpus), {}),
    "vindr-mammo": (_at(mammo.write_vindr_mammo_corpus), {}),
    "cmmd": (_at(mammo.write_cmmd_corpus), {}),
    "cholec80": (_at(cholec80.write_cholec80_corpus), {}),
    # volumes and video
    "kits": (_at(imaging3d.write_kits_corpus), {}),
    "lndb": (_at(imaging3d.write_lndb_corpus), {}),
    "rspect": (_at(imaging3d.write_rspect_corpus), {}),
    "inspect": (_at(inspect_ctpa.write_inspect_corpus), {}),
    "echonet": (_at(video.write_echonet_corpus), {}),
    # signals
    "ptbxl": (_at(ecg.write_ptbxl_corpus), {}),
    "challenge-ecg": (_at(ecg.write_challenge_corpus), {}),
    "chapman": (_at(ecg.write_challenge_corpus, "WFDB_ChapmanShaoxing"), {}),
    "tuab": (_at(eeg.write_tuab_corpus), {}),
    "sleep-edf": (_at(eeg.write_sleep_edf_corpus), {}),
    "tuev": (_at(eeg_events.write_tuev_corpus), {}),
    "isruc": (_at(eeg_events.write_isruc_corpus), {}),
    "shhs": (_at(eeg_events.write_shhs_corpus), {}),
    # graphs
    "connectome": (_at(graphs.write_connectome_corpus), {}),
    "molecules": (write_molecules, {}),
    "proteins": (_at(graphs.write_proteins_corpus), {}),
    "ogbg-ppa": (_at(graphs.write_ppa_corpus), {}),
    "braingb-abide": (_at(braingb.write_abide_bundle), {}),
    "braingb-abcd": (_at(braingb.write_abcd_bundle), {}),
    "braingb-ppmi": (_at(braingb.write_ppmi_bundle), {}),
    # multimodal EHR
    "mimic-iv": (_at(ehr.write_mimic_iv_corpus), {}),
    # declarative spec sources (climb.corpora.folders)
    **{name: (_at(writer), {}) for name, writer in SPEC_WRITERS.items()},
}
