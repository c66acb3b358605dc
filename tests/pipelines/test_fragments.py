"""WriteShard trusts no staged byte: each fragment is checked against the length and sha256 its row recorded."""

from __future__ import annotations

import hashlib

import pytest

from climb.pipelines.stages import CorruptFragment, fragments
from climb.pipelines.writers.members import encode_members
from climb.pipelines.writers.wds_tar import make_fragment, parse_fragment
from climb.storage import filesystem


@pytest.fixture
def staged(tmp_path):
    """A real fragment (CT_small pixels as PNG + metadata) staged at offset 7 of a file, and its row fields."""
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file

    pixels = pydicom.dcmread(get_testdata_file("CT_small.dcm")).pixel_array
    image = ((pixels - pixels.min()) * (255.0 / np.ptp(pixels))).astype(np.uint8)
    frag = make_fragment("k0", encode_members({"image": image}, {"sample_id": "k0"}))
    (tmp_path / "stage.bin").write_bytes(b"leading" + frag.data)
    return tmp_path, frag, ["k0", "stage.bin", 7, len(frag.data), hashlib.sha256(frag.data).hexdigest()]


def test_a_fragment_comes_back_with_its_members(staged):
    root, frag, spec = staged
    fs, path = filesystem(str(root))
    assert list(fragments(fs, path, [spec])) == [frag]


def test_a_changed_byte_is_refused(staged):
    root, frag, spec = staged
    data = bytearray((root / "stage.bin").read_bytes())
    data[7 + 600] ^= 1
    (root / "stage.bin").write_bytes(bytes(data))
    fs, path = filesystem(str(root))
    with pytest.raises(CorruptFragment, match="sha256 differs"):
        list(fragments(fs, path, [spec]))


def test_a_short_read_is_refused(staged):
    root, frag, spec = staged
    (root / "stage.bin").write_bytes((root / "stage.bin").read_bytes()[:-100])
    fs, path = filesystem(str(root))
    with pytest.raises(CorruptFragment, match=f"read {len(frag.data) - 100} bytes"):
        list(fragments(fs, path, [spec]))


def test_member_offsets_are_read_back_from_the_tar_headers(staged):
    _, frag, _ = staged
    assert parse_fragment("k0", frag.data).members == frag.members
    with pytest.raises(ValueError, match="holds a member named"):
        parse_fragment("other", frag.data)
