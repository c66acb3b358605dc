"""Plain native DICOM frames read from the PixelData bytes equal pydicom's stored values, or are left to pydicom."""

import warnings

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.pixels import pixel_array

from climb.transforms.dicom_pixels import native_frame
from climb.transforms.image import dicom_to_image
from climb.transforms.phi import dicom_allowed_tags


def _images():
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(get_testdata_files("*")):
            try:
                ds = pydicom.dcmread(path)
            except Exception:  # noqa: BLE001 - the folder also holds deliberately broken files
                continue
            if "PixelData" in ds:
                out.append((path.rsplit("/", 1)[-1], ds))
    return out


IMAGES = _images()


def test_every_native_frame_taken_equals_pydicoms_stored_values():
    taken = 0
    for name, ds in IMAGES:
        fast = native_frame(ds.get("PixelData"), dicom_allowed_tags(ds))
        if fast is None:
            continue
        taken += 1
        slow = pixel_array(ds, raw=True)
        assert fast.dtype == slow.dtype and fast.shape == slow.shape, name
        assert np.array_equal(fast, slow), name
    assert taken >= 15  # the plain case is the common one among pydicom's own files


@pytest.mark.parametrize("name, reason", [
    ("JPEG2000.dcm", "compressed"),
    ("MR_small_bigendian.dcm", "big endian"),
    ("US1_UNCR.dcm", "colour"),
    ("emri_small.dcm", "multi-frame"),
    ("mlut_18.dcm", "signed 12 bits in 16: pydicom sign-extends"),
])
def test_files_outside_the_plain_case_are_left_to_pydicom(name, reason):
    ds = pydicom.dcmread(get_testdata_file(name))
    assert native_frame(ds.get("PixelData"), dicom_allowed_tags(ds)) is None, reason


def test_pixel_data_shorter_than_the_declared_frame_is_left_to_pydicom():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    assert native_frame(ds.PixelData[:-2], dicom_allowed_tags(ds)) is None


def test_the_display_image_is_the_same_whichever_way_the_pixels_were_read(monkeypatch):
    """dicom_to_image with and without the allow-listed tags, against the same with pydicom decoding."""
    import climb.transforms.image as image_module

    def display(ds, tags):
        try:
            return [dicom_to_image(ds, tags, size=64), dicom_to_image(ds, size=64)]
        except ValueError as exc:  # photometric interpretations the display transform refuses either way
            return str(exc)

    native = [(name, ds, dicom_allowed_tags(ds)) for name, ds in IMAGES]
    native = [(name, ds, tags) for name, ds, tags in native if native_frame(ds.get("PixelData"), tags) is not None]
    fast = [display(ds, tags) for _, ds, tags in native]
    monkeypatch.setattr(image_module, "native_frame", lambda pixel_data, attrs: None)
    slow = [display(ds, tags) for _, ds, tags in native]
    for (name, _, _), got, want in zip(native, fast, slow):
        if isinstance(want, str):
            assert got == want, name
            continue
        for (image, meta), (want_image, want_meta) in zip(got, want):
            assert np.array_equal(image, want_image) and image.dtype == want_image.dtype and meta == want_meta, name
    assert sum(not isinstance(w, str) for w in slow) >= 10
