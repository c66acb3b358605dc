"""A spec source writes the same bytes on every runner, and its volume route stores NIfTI volumes in Zarr."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from climb.corpora.folders import write_covid_us_corpus
from climb.corpora.imaging3d import nibabel_file
from tests.helpers import convert_demo, tree_bytes

CLIPS_SPEC = """\
name: my-clips
description: a user's clip folder named <id>_<source>_<label>
modality: video
files: {glob: 'videos/*', fields: '^videos/(?P<clip>[^_/]+)_(?P<origin>[^/]+)_(?P<finding>[^_/.]+)\\.[^/.]+$'}
labels: [{task: lung_us_finding, column: finding, exclude: [other]}]
video: {num_frames: 4, size: 32, color: gray}
"""

VOLUME_SPEC = """\
name: my-volumes
description: NIfTI volumes in yes/no folders
modality: volume
files: {glob: '*/*.nii*', fields: '^(?P<finding>yes|no)/'}
labels: [{task: brain_tumor_present, column: finding, map: {yes: present, no: absent}}]
volume: {dtype: int16}
"""


@pytest.mark.dask
def test_a_user_spec_writes_the_same_bytes_on_beam_and_on_dask(tmp_path):
    """Dask workers are other processes that never saw the YAML file: they rebuild the source from the options."""
    spec = tmp_path / "clips.yaml"
    spec.write_text(CLIPS_SPEC)
    raw = Path(write_covid_us_corpus(tmp_path / "raw")["root"])

    def run(out: Path, **kw) -> dict[str, bytes]:
        convert_demo(str(spec), raw, out, batch_size=2, **kw)
        return tree_bytes(out)

    direct = run(tmp_path / "direct", workers=1)
    dask = run(tmp_path / "dask", runner="dask", workers=2)
    assert direct == dask
    manifest = json.loads(direct["my-clips/manifest.json"])
    assert manifest["counts"] == {"discovered": 7, "written": 5, "quarantined": 1, "excluded": 1}


def test_a_volume_spec_stores_each_nifti_in_zarr_with_its_label(tmp_path):
    spec = tmp_path / "volumes.yaml"
    spec.write_text(VOLUME_SPEC)
    raw = tmp_path / "raw"
    for folder, name in (("yes", "anatomical.nii"), ("no", "example4d.nii.gz")):
        (raw / folder).mkdir(parents=True)
        shutil.copy(nibabel_file(name), raw / folder / name)
    manifest = convert_demo(str(spec), raw, tmp_path / "out", workers=1)
    assert manifest["counts"]["written"] == 2
    assert manifest["tasks"]["brain_tumor_present"]["counts"] == {"absent": 1, "present": 1}
    arrays = [p for p in (tmp_path / "out" / "my-volumes" / "volumes.zarr").iterdir() if p.is_dir()]
    assert len(arrays) == 2
    assert all(json.loads((a / "zarr.json").read_text())["data_type"] == "int16" for a in arrays)
