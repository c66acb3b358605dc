"""transforms/image.py: each step against hand-computed arrays, the chain against pydicom's reads."""

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from climb.transforms import image as T


def test_bits_stored_drops_high_bits_of_unsigned_pixels():
    stored = np.array([0xF001, 5, 0x0FFF, 0x1000], dtype=np.uint16)
    out = T.mask_bits_stored(stored, 12, signed=False)
    assert out.tolist() == [1, 5, 4095, 0]
    assert out.dtype == np.uint16


def test_bits_stored_sign_extends_signed_pixels():
    stored = np.array([0x0800, 0x0FFF, 0x07FF, 0xF001], dtype=np.uint16)
    out = T.mask_bits_stored(stored, 12, signed=True)
    assert out.tolist() == [-2048, -1, 2047, 1]
    assert out.dtype == np.int16


def test_rescale_turns_ct_stored_values_into_hounsfield_units():
    assert T.rescale(np.array([0, 1024, 2048]), 1.0, -1024.0).tolist() == [-1024, 0, 1024]
    assert T.rescale(np.array([0, 2, 4]), 0.5, 10.0).tolist() == [10, 11, 12]


def test_clip_hu_bounds_padding_and_metal():
    assert T.clip_hu(np.array([-3024.0, -1000, 0, 4000])).tolist() == [-1024, -1000, 0, 3071]


def test_linear_window_follows_the_dicom_half_pixel_formula():
    # C=2, W=5: y = (x - 1.5) / 4 + 0.5, clipped to [0, 1]
    out = T.window(np.array([-1, 0, 1, 2, 3, 4]), 2, 5)
    np.testing.assert_allclose(out, [0, 0.125, 0.375, 0.625, 0.875, 1])


def test_linear_exact_window():
    np.testing.assert_allclose(T.window(np.array([0, 1, 2, 4, 5]), 2, 4, "LINEAR_EXACT"), [0, 0.25, 0.5, 1, 1])


def test_sigmoid_window():
    np.testing.assert_allclose(T.window(np.array([0.0, 1.0]), 0, 4, "sigmoid"), [0.5, 1 / (1 + np.e**-1)], rtol=1e-6)


def test_window_of_width_one_is_a_threshold():
    assert T.window(np.array([9, 10, 11]), 10, 1).tolist() == [0, 1, 1]


def test_window_rejects_an_unknown_function():
    with pytest.raises(ValueError, match="unknown VOI LUT function"):
        T.window(np.zeros(2), 0, 10, "GAMMA")


@pytest.mark.parametrize(
    "preset, center, width",
    [("lung", -600, 1500), ("mediastinum", 50, 350), ("abdomen", 40, 400), ("climb", 80, 700)],
)
def test_ct_presets_put_their_level_at_mid_grey_and_span_their_width(preset, center, width):
    hu = np.array([center - width, center - 0.5, center + width], dtype=np.float32)
    np.testing.assert_allclose(T.ct_window(hu, preset), [0, 0.5, 1])


def test_minmax_stretches_and_handles_a_flat_image():
    np.testing.assert_allclose(T.minmax(np.array([10, 20, 30])), [0, 0.5, 1])
    assert T.minmax(np.full((2, 2), 7)).tolist() == [[0, 0], [0, 0]]


def test_full_range_uses_bits_stored():
    np.testing.assert_allclose(T.full_range(np.array([0, 4095]), 12), [0, 1])
    np.testing.assert_allclose(T.full_range(np.array([-128, 127]), 8, signed=True), [0, 1])


def test_quantize_rounds_to_the_nearest_level():
    assert T.quantize(np.array([0, 0.25, 1.0])).tolist() == [0, 64, 255]
    assert T.quantize(np.array([0, 0.25, 1.0]), "uint16").tolist() == [0, 16384, 65535]
    with pytest.raises(ValueError):
        T.quantize(np.zeros(1), "float32")


def test_ybr_full_to_rgb_uses_the_bt601_full_range_matrix():
    # R = Y + 1.402 (Cr-128); G = Y - 0.344136 (Cb-128) - 0.714136 (Cr-128); B = Y + 1.772 (Cb-128)
    ybr = np.array([[[128, 128, 128], [76, 85, 255]]], dtype=np.uint8)
    rgb = T.to_rgb(ybr, "YBR_FULL").astype(int)
    assert np.abs(rgb - [[[128, 128, 128], [254, 0, 0]]]).max() <= 1


def test_resize_pad_centres_a_wide_image_without_resampling():
    img = np.arange(8, dtype=np.uint8).reshape(2, 4) + 1
    out, placement = T.resize_pad(img, 4)
    assert out.tolist() == [[0, 0, 0, 0], [1, 2, 3, 4], [5, 6, 7, 8], [0, 0, 0, 0]]
    assert placement == {"scale": [1.0, 1.0], "pad": [1, 1, 0, 0]}


def test_resize_pad_shrinks_by_area_averaging():
    img = np.array([[0, 2, 4, 4], [2, 4, 8, 8], [10, 10, 0, 0], [10, 10, 0, 0]], dtype=np.uint8)
    out, placement = T.resize_pad(img, 2)
    assert out.tolist() == [[2, 6], [10, 0]]
    assert placement["scale"] == [0.5, 0.5]


def test_resize_pad_enlarges_a_tall_image_and_pads_the_sides():
    img = np.array([[1], [2]], dtype=np.uint8)
    out, placement = T.resize_pad(img, 4, interpolation=cv2.INTER_NEAREST)
    assert out.tolist() == [[0, 1, 1, 0], [0, 1, 1, 0], [0, 2, 2, 0], [0, 2, 2, 0]]
    assert placement == {"scale": [2.0, 2.0], "pad": [0, 0, 1, 1]}


def test_resize_pad_puts_odd_padding_at_the_bottom_and_keeps_colour():
    img = np.ones((3, 4, 3), dtype=np.uint8)
    out, placement = T.resize_pad(img, 4)
    assert out.shape == (4, 4, 3)
    assert placement["pad"] == [0, 1, 0, 0]
    assert out[3].max() == 0 and out[:3].min() == 1


def test_clahe_is_opencv_clahe_on_grayscale():
    img = (np.add.outer(np.arange(64), np.arange(64)) % 40 + 100).astype(np.uint8)
    expected = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(img)
    np.testing.assert_array_equal(T.clahe(img), expected)
    assert T.clahe(img).std() > img.std()


def test_clahe_on_colour_keeps_shape_and_dtype():
    from skimage.data import chelsea

    out = T.clahe(chelsea())
    assert out.shape == chelsea().shape and out.dtype == np.uint8


def test_display_params_take_dicom_defaults():
    params = T.display_params({})
    assert (params.photometric, params.slope, params.intercept, params.window, params.signed) == (
        "MONOCHROME2", 1.0, 0.0, None, False)


def test_dicom_to_image_from_an_array_windows_then_inverts_monochrome1():
    # C=150.5, W=301: y = (x - 150) / 300 + 0.5 -> 0, 1/3, 2/3, 1; MONOCHROME1 -> 1 - y
    pixels = np.array([[0, 100], [200, 300]], dtype=np.uint16)
    meta = {"PhotometricInterpretation": "MONOCHROME1", "BitsStored": 12, "WindowCenter": 150.5,
            "WindowWidth": 301, "PixelSpacing": [0.2, 0.1]}
    img, info = T.dicom_to_image(pixels, meta)
    assert img.tolist() == [[255, 170], [85, 0]]
    assert info["inverted"] and info["spacing"] == [0.2, 0.1]
    assert info["voi"] == {"kind": "window", "center": 150.5, "width": 301.0, "function": "LINEAR"}


def test_dicom_to_image_resizing_scales_the_spacing():
    pixels = np.zeros((100, 50), dtype=np.uint8)
    img, info = T.dicom_to_image(pixels, {"PixelSpacing": [0.2, 0.2]}, size=50)
    assert img.shape == (50, 50)
    assert info["spacing"] == [0.4, 0.4] and info["pad"] == [0, 0, 12, 13]


def test_dicom_to_image_applies_a_ct_preset_in_hounsfield_units():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = apply_modality_lut(ds.pixel_array, ds)
    img, info = T.dicom_to_image(ds, window="lung")
    np.testing.assert_array_equal(img, T.quantize(T.ct_window(hu, "lung")))
    assert info["voi"]["center"] == -600


def test_dicom_to_image_matches_pydicom_windowing_of_a_real_mr():
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    # pydicom's windowing spans the signed 16-bit output range
    ref = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    expected = np.rint((ref + 32768) / 65535 * 255)
    img, _ = T.dicom_to_image(ds)
    assert np.abs(img.astype(int) - expected).max() == 0


def test_dicom_to_image_matches_pydicom_voi_lut():
    ds = pydicom.dcmread(get_testdata_file("vlut_04.dcm"))
    bits = ds.VOILUTSequence[0].LUTDescriptor[2]
    expected = np.rint(apply_voi_lut(ds.pixel_array, ds) / (2**bits - 1) * 255)
    img, info = T.dicom_to_image(ds)
    assert info["voi"]["kind"] == "voi_lut"
    assert np.abs(img.astype(int) - expected).max() == 0


def test_dicom_to_image_matches_pydicom_modality_lut():
    ds = pydicom.dcmread(get_testdata_file("mlut_18.dcm"))
    expected = T.quantize(T.minmax(apply_modality_lut(ds.pixel_array, ds)))
    img, _ = T.dicom_to_image(ds)
    np.testing.assert_array_equal(img, expected)


def test_dicom_to_image_inverts_a_real_monochrome1_radiograph():
    ds = pydicom.dcmread(get_testdata_file("RG1_UNCI.dcm"))
    img, info = T.dicom_to_image(ds, window="minmax")
    raw = ds.pixel_array
    assert info["inverted"] and info["photometric"] == "MONOCHROME1"
    # the brightest stored value becomes black, the darkest white
    assert img[np.unravel_index(raw.argmax(), raw.shape)] == 0
    assert img[np.unravel_index(raw.argmin(), raw.shape)] == 255


def test_dicom_to_image_converts_ybr_to_the_rgb_pydicom_shows():
    ds = pydicom.dcmread(get_testdata_file("SC_ybr_full_uncompressed.dcm"))
    img, info = T.dicom_to_image(ds)
    assert info["photometric"] == "YBR_FULL" and img.shape == (100, 100, 3)
    np.testing.assert_array_equal(img, ds.pixel_array)


def test_dicom_to_image_keeps_16_bits_when_asked():
    pixels = np.array([[0, 4095]], dtype=np.uint16)
    img, _ = T.dicom_to_image(pixels, {"BitsStored": 12}, window="full", out_dtype="uint16")
    assert img.dtype == np.uint16 and img.tolist() == [[0, 65535]]


def test_dicom_to_image_refuses_multiframe_data():
    with pytest.raises(ValueError, match="multi-frame"):
        T.dicom_to_image(np.zeros((3, 4, 4), np.uint8), {})


def test_dicom_to_image_refuses_an_unknown_photometric_interpretation():
    with pytest.raises(ValueError, match="PALETTE COLOR"):
        T.dicom_to_image(np.zeros((4, 4), np.uint8), {"PhotometricInterpretation": "PALETTE COLOR"})
