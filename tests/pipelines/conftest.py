"""Raw corpora for the engine tests, built from real files that ship inside pydicom and nibabel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# Real DICOM files shipped with pydicom: CT, MR and its compressed variants, JPEG 2000, RLE,
# JPEG-LS, colour JPEG, a 2-frame palette-colour ultrasound and a 10-frame MR.
DICOM_FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "JPEG2000.dcm",
    "SC_rgb_jpeg_gdcm.dcm",
    "US1_J2KR.dcm",
    "OBXXXX1A_2frame.dcm",
    "emri_small.dcm",
)


def testdata(name: str) -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if path is None:
        pytest.fail(f"pydicom test file {name} is not installed")
    return Path(path)


def nibabel_data(name: str) -> Path:
    from nibabel.testing import data_path

    return Path(data_path) / name


@pytest.fixture
def dicom_corpus(tmp_path: Path) -> Path:
    """A two-level DICOM tree: site/<file> so folder-based grouping is exercised too."""
    root = tmp_path / "raw-dicom"
    for i, name in enumerate(DICOM_FILES):
        target = root / f"site{i % 3}" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(testdata(name), target)
    return root


@pytest.fixture
def nifti_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "raw-nifti"
    root.mkdir()
    for name in ("anatomical.nii", "example4d.nii.gz"):
        shutil.copy(nibabel_data(name), root / name)
    return root


@pytest.fixture
def broken_corpus(tmp_path: Path) -> Path:
    """Good files next to every kind of broken one the engine must quarantine."""
    root = tmp_path / "raw-broken"
    root.mkdir()
    shutil.copy(testdata("CT_small.dcm"), root / "good_ct.dcm")
    shutil.copy(testdata("MR_small.dcm"), root / "good_mr.dcm")
    data = testdata("CT_small.dcm").read_bytes()
    (root / "truncated.dcm").write_bytes(data[: len(data) // 2])
    (root / "not_dicom.dcm").write_bytes(b"%PDF-1.4 this is not a DICOM file\n" * 20)
    (root / "zero.dcm").write_bytes(b"")
    (root / "dangling.dcm").symlink_to(root / "does-not-exist.dcm")
    (root / "no_pixels.dcm").write_bytes(testdata("rtplan.dcm").read_bytes())
    return root
