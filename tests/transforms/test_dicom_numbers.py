"""Numeric raw DICOM values read without pydicom give pydicom's values, or are left to pydicom."""

import struct

import pytest
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.tag import Tag

from climb.transforms.dicom_numbers import NOT_FAST, raw_number
from climb.transforms.phi import _jsonable


def pydicom_value(vr: str, value: bytes, little_endian: bool = True):
    raw = RawDataElement(Tag(0x0028, 0x1050), vr, len(value), value, 0, False, little_endian)
    return _jsonable(convert_raw_data_element(raw).value)


@pytest.mark.parametrize("vr, value", [
    ("DS", b"40"), ("DS", b"-1024.0 "), ("DS", b"0.661468\\0.661468"), ("DS", b" 1.5E+01\\.25\\-3e-2"),
    ("DS", b"+12.\x00"), ("IS", b"12 "), ("IS", b"007\\-3"), ("IS", b"+5"),
])
def test_decimal_and_integer_strings_read_as_pydicom_reads_them(vr, value):
    fast = raw_number(vr, value, True)
    assert fast is not NOT_FAST
    assert repr(fast) == repr(pydicom_value(vr, value))


@pytest.mark.parametrize("vr, fmt, numbers", [
    ("US", "H", (512,)), ("US", "H", (1, 2, 3)), ("SS", "h", (-2000,)), ("UL", "L", (70000,)),
    ("SL", "l", (-5, 6)), ("FL", "f", (0.5,)), ("FD", "d", (0.1, -2.5)),
])
@pytest.mark.parametrize("little_endian", [True, False])
def test_binary_numbers_read_in_the_files_byte_order(vr, fmt, numbers, little_endian):
    value = struct.pack(f"{'<' if little_endian else '>'}{len(numbers)}{fmt}", *numbers)
    fast = raw_number(vr, value, little_endian)
    assert repr(fast) == repr(pydicom_value(vr, value, little_endian))


@pytest.mark.parametrize("vr, value", [
    ("DS", b""), ("DS", b"1.5\\"), ("DS", b"1,5"), ("DS", b"nan"), ("DS", "1.5\u00b5".encode()),
    ("IS", b"1.5"), ("IS", b"12a"), ("US", b"\x01\x02\x03"), ("CS", b"CT"), ("LO", b"12"), (None, b"12"),
])
def test_anything_not_plainly_numeric_is_left_to_pydicom(vr, value):
    assert raw_number(vr, value, True) is NOT_FAST
