"""PNG members: the fast codec (Up rows + libdeflate) is lossless for every image kind climb writes,
any PNG reader opens it and it gives the same bytes everywhere; the compact codec takes the zlib
strategy that suits the pixels; a conversion records which one it used."""

from __future__ import annotations

import hashlib
import io

import cv2
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from skimage import data as skdata

from climb.pipelines.convert import ConvertError
from climb.pipelines.writers.png import png_bytes, png_codec
from climb.transforms.image import dicom_to_image
from tests.helpers import convert_demo, records


def _default_strategy(image: np.ndarray) -> bytes:
    arr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH]
    return cv2.imencode(".png", np.ascontiguousarray(arr), params)[1].tobytes()


def _decoded(data: bytes, like: np.ndarray) -> np.ndarray:
    out = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB) if like.ndim == 3 else out


def _ct(size: int | None = 224) -> np.ndarray:
    return dicom_to_image(pydicom.dcmread(get_testdata_file("CT_small.dcm")), size=size)[0]


KINDS = {
    "gray8": lambda: skdata.camera()[100:324, 150:374],
    "gray16": lambda: pydicom.dcmread(get_testdata_file("CT_small.dcm")).pixel_array.astype(np.uint16),
    "rgb8": lambda: skdata.astronaut()[:200, :160],
    "rgb16": lambda: (skdata.astronaut()[:64, :48].astype(np.uint16) * 257 + np.arange(48, dtype=np.uint16)[:, None]),
    "one_column": lambda: np.arange(5, dtype=np.uint16).reshape(5, 1),
    "one_row": lambda: np.arange(7, dtype=np.uint8).reshape(1, 7),
    "non_contiguous": lambda: skdata.camera()[::3, ::2],
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_fast_codec_round_trips_every_image_kind_through_opencv(kind):
    image = KINDS[kind]()
    assert np.array_equal(_decoded(png_bytes(image, "fast"), image), image)


@pytest.mark.parametrize("kind", ["gray8", "gray16", "rgb8"])
def test_the_fast_codec_is_read_by_pillow_too(kind):
    image = KINDS[kind]()
    with Image.open(io.BytesIO(png_bytes(image, "fast"))) as decoded:
        decoded.load()
        assert np.array_equal(np.asarray(decoded), image)


GOLDEN = {
    "gray8": "42acd738263816b81878850a985cf9c7bb4ddfb68666b3f41502d46d3bf1e8c8",
    "gray16": "669b65df1195c147c180be71ccf10971add68deab0e880e4e3d865296053c091",
    "rgb8": "9d860e2e9ec685b65ca133e26683ddac4c28ce9fd4c4316a3dbc92e1a44a8e53",
}


@pytest.mark.parametrize("kind", sorted(GOLDEN))
def test_the_fast_codec_gives_the_recorded_bytes_on_this_platform(kind):
    """The hashes were taken on x86-64 Linux; a platform or libdeflate version that encodes otherwise
    would make conversions there differ byte-wise, and fails here first."""
    assert hashlib.sha256(png_bytes(KINDS[kind](), "fast")).hexdigest() == GOLDEN[kind]


def test_the_fast_codec_stays_within_a_quarter_of_the_compact_size_on_ct_mr_and_radiographs():
    for name in ["CT_small.dcm", "RG1_UNCR.dcm", "MR_small.dcm"]:
        image = dicom_to_image(pydicom.dcmread(get_testdata_file(name)), size=224)[0]
        assert len(png_bytes(image, "fast")) < 1.25 * len(png_bytes(image, "compact")), name


def test_the_fast_codec_writes_a_flat_mask_smaller_than_the_compact_one():
    mask = np.zeros((224, 224), np.uint8)
    cv2.circle(mask, (100, 120), 50, 1, -1)
    assert len(png_bytes(mask, "fast")) < len(png_bytes(mask, "compact"))


@pytest.mark.parametrize("codec", ["fast", "compact"])
def test_an_empty_or_float_image_is_refused_with_its_shape_and_dtype(codec):
    with pytest.raises(ValueError, match="empty image"):
        png_bytes(np.zeros((0, 4), np.uint8), codec)
    with pytest.raises(ValueError, match="float32"):
        png_bytes(np.zeros((4, 4), np.float32), codec)


def test_the_codec_option_defaults_to_fast_and_refuses_other_names_with_the_choices():
    assert png_codec({}) == "fast"
    assert png_codec({"png": "compact"}) == "compact"
    with pytest.raises(ValueError, match="png=fast .* png=compact"):
        png_codec({"png": "zopfli"})


@pytest.mark.parametrize("name", ["CT_small.dcm", "RG1_UNCR.dcm", "MR_small.dcm"])
def test_compact_writes_a_ct_mr_or_radiograph_at_224_px_smaller_than_the_default_strategy(name):
    image = dicom_to_image(pydicom.dcmread(get_testdata_file(name)), size=224)[0]
    data = png_bytes(image, "compact")
    assert np.array_equal(_decoded(data, image), image)
    assert len(data) < 0.92 * len(_default_strategy(image))


def test_compact_keeps_the_default_strategy_for_an_ultrasound_frame_with_its_black_surround():
    frame = pydicom.dcmread(get_testdata_file("US1_UNCR.dcm")).pixel_array
    data = png_bytes(frame, "compact")
    assert np.array_equal(_decoded(data, frame), frame)
    assert data == _default_strategy(frame)


def test_compact_keeps_the_default_strategy_for_a_label_mask():
    mask = np.zeros((224, 224), np.uint8)
    cv2.circle(mask, (100, 120), 50, 1, -1)
    assert png_bytes(mask, "compact") == _default_strategy(mask)


def test_compact_writes_a_smooth_gradient_no_bigger_than_the_default_strategy():
    ramp = np.tile(np.arange(224, dtype=np.uint8), (224, 1))
    data = png_bytes(ramp, "compact")
    assert np.array_equal(_decoded(data, ramp), ramp)
    assert len(data) <= len(_default_strategy(ramp))


def test_a_conversion_records_its_codec_and_writes_its_bytes(dicom_corpus, tmp_path):
    manifest = convert_demo("dicom", dicom_corpus, tmp_path / "out", options={"png": "compact"})
    assert manifest["config"]["options"]["png"] == "compact"
    ct = dicom_to_image(pydicom.dcmread(dicom_corpus / "site0" / "CT_small.dcm"))[0]
    images = [r["image.png"] for r in records(tmp_path / "out" / "dicom") if "image.png" in r]
    assert png_bytes(ct, "compact") in images
    assert png_bytes(ct, "fast") not in images


def test_a_default_conversion_records_the_fast_codec(dicom_corpus, tmp_path):
    manifest = convert_demo("dicom", dicom_corpus, tmp_path / "out")
    assert manifest["config"]["options"]["png"] == "fast"
    ct = dicom_to_image(pydicom.dcmread(dicom_corpus / "site0" / "CT_small.dcm"))[0]
    assert png_bytes(ct, "fast") in [r["image.png"] for r in records(tmp_path / "out" / "dicom") if "image.png" in r]


def test_an_unknown_codec_fails_the_conversion_before_any_output(dicom_corpus, tmp_path):
    with pytest.raises(ConvertError, match="png='zopfli'"):
        convert_demo("dicom", dicom_corpus, tmp_path / "out", options={"png": "zopfli"})
    assert not (tmp_path / "out").exists()
