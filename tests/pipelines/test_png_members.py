"""PNG members take the zlib strategy that suits their pixels: Huffman-only for noise-like medical
images, string matching for images with runs, and never a file much bigger than the default's."""

from __future__ import annotations

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from climb.pipelines.writers.members import png_bytes
from climb.transforms.image import dicom_to_image


def _default_strategy(image: np.ndarray) -> bytes:
    arr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH]
    return cv2.imencode(".png", np.ascontiguousarray(arr), params)[1].tobytes()


def _decoded(data: bytes, like: np.ndarray) -> np.ndarray:
    out = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB) if like.ndim == 3 else out


@pytest.mark.parametrize("name", ["CT_small.dcm", "RG1_UNCR.dcm", "MR_small.dcm"])
def test_a_ct_mr_or_radiograph_at_224_px_is_smaller_than_with_the_default_strategy(name):
    image = dicom_to_image(pydicom.dcmread(get_testdata_file(name)), size=224)[0]
    data = png_bytes(image)
    assert np.array_equal(_decoded(data, image), image)
    assert len(data) < 0.92 * len(_default_strategy(image))


def test_an_ultrasound_frame_with_its_black_surround_keeps_the_default_strategy():
    frame = pydicom.dcmread(get_testdata_file("US1_UNCR.dcm")).pixel_array
    data = png_bytes(frame)
    assert np.array_equal(_decoded(data, frame), frame)
    assert data == _default_strategy(frame)


def test_a_label_mask_keeps_the_default_strategy():
    mask = np.zeros((224, 224), np.uint8)
    cv2.circle(mask, (100, 120), 50, 1, -1)
    assert png_bytes(mask) == _default_strategy(mask)


def test_a_smooth_gradient_without_equal_neighbours_is_no_bigger_than_with_the_default_strategy():
    ramp = np.tile(np.arange(224, dtype=np.uint8), (224, 1))
    data = png_bytes(ramp)
    assert np.array_equal(_decoded(data, ramp), ramp)
    assert len(data) <= len(_default_strategy(ramp))


def test_a_one_pixel_wide_image_encodes():
    column = np.arange(5, dtype=np.uint16).reshape(5, 1)
    assert np.array_equal(_decoded(png_bytes(column), column), column)
