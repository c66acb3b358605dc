"""A short, bounded fuzz run (hypothesis) of the parsers that read untrusted headers and indexes.

Each target gets mutated real inputs (byte flips, truncations, insertions into a valid file) and
arbitrary ones, and must answer with its documented refusal (or a correct result) within the
deadline: no other exception, no hang, no allocation sized by a lying field. Budget: a few hundred
examples in total, about ten seconds; CI runs it with the rest of the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from climb.loaders.shards import parse_index
from climb.pipelines.limits import image_header_pixels
from climb.pipelines.sources import SourceError
from climb.pipelines.sources.edf_eeg import edf_duration
from climb.pipelines.sources.metaimage import MetaImageError, decode_data, parse_header

FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                database=None)


@st.composite
def mutations(draw, seed: bytes) -> bytes:
    """The seed with a few bytes flipped, a slice cut out or random bytes spliced in, or truncated."""
    blob = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        at = draw(st.integers(0, max(len(blob) - 1, 0)))
        if kind == "flip" and blob:
            blob[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del blob[at:at + draw(st.integers(1, 64))]
        elif kind == "insert":
            blob[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            del blob[at:]
    return bytes(blob)


def mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=300), mutations(seed))


MHD = (
    "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\nCompressedData = False\n"
    "TransformMatrix = 1 0 0 0 1 0 0 0 1\nOffset = -120 -150 -70\nElementSpacing = 0.7 0.7 2.5\n"
    "DimSize = 4 3 2\nElementType = MET_SHORT\nElementDataFile = LNDb-0001.raw\n"
).encode()


@FUZZ
@given(mutated(MHD), st.binary(max_size=64))
def test_metaimage_header_and_data_parse_or_refuse_with_a_metaimage_error(header, data):
    try:
        parsed = parse_header(header.decode("latin-1"))
        volume = decode_data(parsed, data)
    except MetaImageError:
        return
    assert volume.shape == parsed.dim_size[::-1] and volume.nbytes == len(data[parsed.header_size:])


def _index_seed() -> bytes:
    return json.dumps({"version": 1, "shard": "train-00000.tar", "samples": [
        {"key": "a1", "offset": 0, "size": 2048, "members": {"json": [512, 40], "image.png": [1536, 300]}},
        {"key": "b2", "offset": 2048, "size": 1024, "members": {"json": [2560, 33]}},
    ]}).encode()


SHARD = {"path": "shards/train-00000.tar", "index": "shards/train-00000.idx", "bytes": 4096, "num_samples": 2}


@FUZZ
@given(mutated(_index_seed()))
def test_the_shard_index_reader_accepts_only_ranges_inside_the_shard(raw):
    try:
        index = parse_index(raw, SHARD)
    except ValueError:
        return
    for i in range(len(index)):
        _, offset, size, members = index.sample(i)
        for start, length in [(offset, size), *members.values()]:
            assert 0 <= start and 0 <= length and start + length <= SHARD["bytes"]


@pytest.fixture(scope="module")
def wfdb_record(tmp_path_factory) -> Path:
    from climb.corpora.ecg import synthetic_ecg, write_wfdb

    folder = tmp_path_factory.mktemp("wfdb")
    write_wfdb(folder, "00001_hr", synthetic_ecg(1, 500), 500)
    return folder / "00001_hr"


@FUZZ
@given(data=st.data())
def test_the_wfdb_header_path_refuses_broken_headers_with_a_source_error(wfdb_record, data):
    from climb.pipelines.sources.wfdb_ecg import read_ecg

    header = data.draw(mutated(wfdb_record.with_suffix(".hea").read_bytes()))
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(wfdb_record.with_suffix(".dat"), tmp)
        hea = Path(tmp) / "00001_hr.hea"
        hea.write_bytes(header)
        try:
            recording = read_ecg(str(hea), [str(Path(tmp) / "00001_hr.dat")], {})
        except SourceError:
            return
        assert recording.signal.shape[0] == 12 and np.isfinite(recording.fs)


@pytest.fixture(scope="module")
def edf_file(tmp_path_factory) -> bytes:
    from climb.corpora.eeg import _tuab_file

    path = tmp_path_factory.mktemp("edf") / "a_s001_t000.edf"
    _tuab_file(path, 250, 4, "REF", 0)
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_edf_duration_is_a_plausible_length_or_none_never_an_exception(edf_file, data):
    blob = data.draw(mutated(edf_file[:2048]).map(lambda head: head + edf_file[2048:]))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.edf")
        with open(path, "wb") as f:
            f.write(blob)
        duration = edf_duration(path, {})
    assert duration is None or 0 <= duration <= len(blob)


def _image_seeds() -> list[bytes]:
    import cv2

    img = np.arange(24 * 16 * 3, dtype=np.uint8).reshape(24, 16, 3)
    return [cv2.imencode(ext, img)[1].tobytes() for ext in (".png", ".jpg")]


@FUZZ
@given(st.one_of(*(mutated(seed) for seed in _image_seeds())))
def test_image_headers_give_a_pixel_count_or_a_source_error(blob):
    try:
        pixels = image_header_pixels(blob)
    except SourceError:
        return
    assert pixels >= 0


DICOM_SEEDS = ("CT_small.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm", "MR_small_jpeg_ls_lossless.dcm", "SC_rgb_jpeg_gdcm.dcm")


@FUZZ
@given(data=st.data())
def test_a_mutated_dicom_file_always_ends_as_one_entry_never_an_exception(tmp_path, data):
    """Through the whole per-sample unit (pixel decoders of five transfer syntaxes included)."""
    from pydicom.data import get_testdata_file

    from climb.pipelines.process import Context, process_item
    from climb.pipelines.records import prepare
    from climb.pipelines.sources import get_source
    from climb.schemas.sample import Record
    from climb.transforms.phi import DEMO_KEY

    seed = Path(get_testdata_file(data.draw(st.sampled_from(DICOM_SEEDS)))).read_bytes()
    path = tmp_path / "x.dcm"
    path.write_bytes(data.draw(mutations(seed)))
    record = Record(source="dicom", sample_id="x.dcm", subject_id="folder:.", paths=(str(path),))
    (item,), _ = prepare([record], key=DEMO_KEY, salt="climb", raw_url=str(tmp_path), fractions={"train": 1.0})
    ctx = Context(source="dicom", dataset_url=str(tmp_path / "out"), options={"out_dtype": "uint8"}, storage_options={},
                  hmac_key=DEMO_KEY, salt="climb", fractions={"train": 1.0})
    entry, fragment = process_item(ctx, get_source("dicom"), item)
    assert entry["kind"] in ("written", "quarantined") and (fragment is not None) == (entry["kind"] == "written")
