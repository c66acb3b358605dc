"""lndb: MetaImage CTs -> int16 HU volumes in RAS with scan-level nodule size labels."""

import json
import zlib

import numpy as np
import pytest
import zarr

from climb.corpora.imaging3d import stacked_ct
from climb.pipelines.sources.lndb import nodule_size_label
from climb.pipelines.sources.metaimage import MetaImageError, decode_data, parse_header
from tests.helpers import convert_demo, records

from .conftest import quarantine

HEADER = """ObjectType = Image
NDims = 3
BinaryData = True
BinaryDataByteOrderMSB = False
CompressedData = False
TransformMatrix = 1 0 0 0 1 0 0 0 1
Offset = -10 -20 -30
ElementSpacing = 0.5 0.75 2
DimSize = 4 3 2
ElementType = MET_SHORT
ElementDataFile = scan.raw
"""


def test_header_fields_are_parsed_with_x_first_geometry():
    h = parse_header(HEADER)
    assert h.dim_size == (4, 3, 2) and h.spacing == (0.5, 0.75, 2.0) and h.offset == (-10, -20, -30)
    assert h.dtype == np.dtype("<i2") and h.data_file == "scan.raw" and h.nbytes == 48
    # voxel (1, 1, 1) in LPS is (-9.5, -19.25, -28); RAS flips x and y
    np.testing.assert_allclose(h.affine_ras() @ [1, 1, 1, 1], [9.5, 19.25, -28, 1])


def test_transform_matrix_rows_are_the_voxel_axis_directions():
    h = parse_header(HEADER.replace("1 0 0 0 1 0 0 0 1", "0 1 0 -1 0 0 0 0 1"))
    # axis i points along LPS +y, axis j along LPS -x
    np.testing.assert_allclose(h.affine_ras()[:3, :3], [[0, 0.75, 0], [-0.5, 0, 0], [0, 0, 2]])


@pytest.mark.parametrize(
    "edit, message",
    [
        (("NDims = 3", "NDims = 2"), "only 3D"),
        (("MET_SHORT", "MET_RGB"), "unsupported ElementType"),
        (("DimSize = 4 3 2", "DimSize = 4 3"), "DimSize needs 3 values"),
        (("ElementSpacing = 0.5 0.75 2", "ElementSpacing = 0.5 0 2"), "must be positive"),
        (("TransformMatrix = 1 0 0 0 1 0 0 0 1", "TransformMatrix = 2 0 0 0 1 0 0 0 1"), "not a rotation"),
        (("ElementDataFile = scan.raw", "ElementDataFile = LIST"), "multi-file"),
        (("ObjectType = Image\n", ""), "no ObjectType"),
        (("Offset = -10 -20 -30", "Offset = -10 -20 -30\nOffset = 0 0 0"), "appears twice"),
        (("BinaryData = True", "BinaryData = maybe"), "must be True or False"),
        (("NDims = 3\n", "NDims = 3\nElementNumberOfChannels = 3\n"), "only scalar"),
    ],
)
def test_headers_it_cannot_read_exactly_are_refused(edit, message):
    with pytest.raises(MetaImageError, match=message):
        parse_header(HEADER.replace(*edit))


def test_data_block_is_x_fastest_and_byte_order_is_honoured():
    values = np.arange(24, dtype=">i2")
    h = parse_header(HEADER.replace("MSB = False", "MSB = True"))
    out = decode_data(h, values.tobytes())
    assert out.shape == (2, 3, 4) and out[1, 2, 3] == 23 and out[0, 1, 0] == 4


def test_compressed_and_short_blocks():
    h = parse_header(HEADER.replace("CompressedData = False", "CompressedData = True"))
    assert decode_data(h, zlib.compress(np.arange(24, dtype="<i2").tobytes()))[1, 0, 0] == 12
    with pytest.raises(MetaImageError, match="short: 46 bytes.*needs 48"):
        decode_data(parse_header(HEADER), bytes(46))


def test_nodule_size_label_uses_equivalent_diameter_of_nodules_only():
    rows = [{"Nodule": "1", "Volume": "14.1"}, {"Nodule": "0", "Volume": "900"}]  # d(14.1) = 2.998 mm
    assert nodule_size_label(rows) == [1, 0]
    assert nodule_size_label([{"Nodule": "1", "Volume": "14.2"}]) == [0, 1]  # d = 3.005 mm
    assert nodule_size_label([{"Nodule": "0", "Volume": "50"}]) == [0, 0]
    assert nodule_size_label([{"Nodule": "1", "Volume": ""}]) == [None, None]


@pytest.fixture(scope="module")
def converted(lndb_corpus, tmp_path_factory):
    raw, expected = lndb_corpus
    out = tmp_path_factory.mktemp("lndb-out")
    return convert_demo("lndb", raw, out), out / "lndb", expected


def test_corpus_converts_with_counts_and_reasons(converted, lndb_corpus):
    manifest, dataset, expected = converted
    assert manifest["counts"] == expected["counts"]
    reasons = quarantine(dataset, lndb_corpus[0])
    assert "data block is short" in reasons["data/LNDb-0003.mhd"]["message"]
    assert "missing" in reasons["data/LNDb-0005.mhd"]["message"]


def test_volumes_land_in_ras_whatever_the_transform_matrix(converted):
    _, dataset, expected = converted
    base = stacked_ct(6)
    # LNDb-0001: identity directions in LPS -> RAS flips x and y. LNDb-0002 stores the same anatomy
    # with y reversed on disk and TransformMatrix y = -1, so it must come out identical.
    want = {6: base[:, ::-1, ::-1], 5: base[:5, ::-1, ::-1]}
    labels = {6: expected["labels"]["LNDb-0001"], 5: expected["labels"]["LNDb-0002"]}
    seen = set()
    for rec in records(dataset):
        meta = json.loads(rec["json"])
        arr = zarr.open_array(str(dataset / meta["volume"]["zarr_path"]), mode="r")
        np.testing.assert_array_equal(arr[...], want[arr.shape[0]])
        assert arr.attrs["spacing"] == pytest.approx([2.5, 0.661468, 0.661468])
        assert meta["labels"]["lung_nodule_size"] == labels[arr.shape[0]]
        seen.add(arr.shape[0])
    assert seen == {5, 6}
