"""Pseudonymization and DICOM tag scrubbing: no original identifier leaves a conversion.

Subject, study and sample ids become keyed hashes (HMAC-SHA256). Without the key nobody can map a
hash back to a patient, not even by hashing candidate MRNs; with the key, the same patient gets the
same id in every dataset converted with it, which is what lets multimodal sources link records.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

from climb.transforms.dicom_numbers import NOT_FAST, raw_number

KEY_ENV = "CLIMB_HMAC_KEY"
DEMO_KEY = b"climb-demo-key-NOT-FOR-REAL-PATIENT-DATA"


class MissingKeyError(RuntimeError):
    """Raised when a production conversion has no pseudonymization key."""


def load_key(key_file: str | None = None, *, allow_demo: bool = False) -> bytes:
    """The HMAC key, from --hmac-key-file, else $CLIMB_HMAC_KEY, else the demo key if allowed."""
    if key_file:
        data = Path(key_file).read_bytes().strip()
        if len(data) < 16:
            raise MissingKeyError(f"the key in {key_file} is shorter than 16 bytes; use a long random secret")
        return data
    env = os.environ.get(KEY_ENV)
    if env:
        if len(env) < 16:
            raise MissingKeyError(f"${KEY_ENV} is shorter than 16 characters; use a long random secret")
        return env.encode("utf-8")
    if allow_demo:
        return DEMO_KEY
    raise MissingKeyError(
        f"no pseudonymization key: set {KEY_ENV} (e.g. `export {KEY_ENV}=$(openssl rand -hex 32)`) "
        "or pass --hmac-key-file FILE; keep the key secret and reuse it to link datasets"
    )


def key_id(key: bytes) -> str:
    """A short public fingerprint of the key, so a manifest can say which key built it."""
    return hmac.new(key, b"climb-key-id", hashlib.sha256).hexdigest()[:16]


def pseudonymize(value: str, key: bytes, namespace: str = "subject", length: int = 24) -> str:
    """Keyed hash of an identifier, hex, `length` characters (96 bits by default).

    The namespace keeps a subject id and a study id with the same digits from colliding. Ids made
    from file names that are not valid UTF-8 (Python lists them with surrogate escapes) hash their
    original bytes, so one odd name cannot stop a conversion.
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"cannot pseudonymize an empty {namespace} id")
    mac = hmac.new(key, f"{namespace}\x1f{value}".encode("utf-8", "surrogateescape"), hashlib.sha256)
    return mac.hexdigest()[:length]


# DICOM attributes needed to decode pixels, place them in space and know what they show.
# Everything else (names, dates, UIDs, accession numbers, free text, private tags) is dropped.
DICOM_ALLOWED_TAGS = (
    "Modality", "BodyPartExamined", "ViewPosition", "ImageLaterality", "Laterality", "PatientOrientation",
    "PhotometricInterpretation", "SamplesPerPixel", "PlanarConfiguration", "Rows", "Columns",
    "NumberOfFrames", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
    "RescaleSlope", "RescaleIntercept", "RescaleType", "WindowCenter", "WindowWidth", "VOILUTFunction",
    "PixelSpacing", "ImagerPixelSpacing", "SliceThickness", "SpacingBetweenSlices",
    "ImagePositionPatient", "ImageOrientationPatient", "FrameTime", "CineRate", "RecommendedDisplayFrameRate",
    "TransferSyntaxUID", "Manufacturer", "MagneticFieldStrength", "KVP", "ConvolutionKernel",
)


def _jsonable(value: Any) -> Any:
    from pydicom.multival import MultiValue

    if isinstance(value, (MultiValue, list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):  # DSfloat is a float
        return float(value)
    if isinstance(value, int):  # IS is an int
        return int(value)
    return str(value)


def _is_plain(value: Any) -> bool:
    """A text or number, or a list of them: what every allow-listed attribute holds in a valid file."""
    from pydicom.dataset import Dataset
    from pydicom.multival import MultiValue
    from pydicom.sequence import Sequence

    if isinstance(value, (Sequence, Dataset, bytes, bytearray)):
        return False
    if isinstance(value, (MultiValue, list, tuple)):
        return all(_is_plain(v) for v in value)
    return True


def _allowed_tag_numbers() -> tuple[tuple[str, int, str], ...]:
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    tags = ((name, tag_for_keyword(name)) for name in DICOM_ALLOWED_TAGS if name != "TransferSyntaxUID")
    return tuple((name, tag, dictionary_VR(tag)) for name, tag in tags)


def dicom_allowed_tags(ds: Any) -> dict[str, Any]:
    """The allow-listed top-level attributes of a pydicom Dataset as plain JSON values, in list order.

    Looked up by tag number. Numbers stored with their dictionary VR are read from the raw bytes
    directly (transforms/dicom_numbers.py); any other element not yet converted goes through
    pydicom's own convert_raw_data_element (its hooks, VR lookup and character set, exactly as
    Dataset access does) and is stored back, so later reads of it from the Dataset do not convert
    it again. Dataset access ran every conversion through several nested lookups: ~1/10 of a DICOM
    sample's decoding time, halved again by the raw-byte numbers. The display transform takes the
    result instead of reading the Dataset (transforms/image.dicom_to_image's `meta`). Elements
    whose converted VR is a sequence or ambiguous go through Dataset access, which handles both.
    """
    from pydicom.dataelem import RawDataElement, convert_raw_data_element
    from pydicom.valuerep import AMBIGUOUS_VR

    global _TAG_NUMBERS
    if _TAG_NUMBERS is None:
        _TAG_NUMBERS = _allowed_tag_numbers()
    encoding = ds.original_character_set or ds._character_set
    out: dict[str, Any] = {}
    for name, tag, vr in _TAG_NUMBERS:
        elem = ds.get_item(tag)
        if elem is None:
            continue
        if isinstance(elem, RawDataElement):
            number = raw_number(vr, elem.value, elem.is_little_endian) if elem.VR in (vr, None) else NOT_FAST
            if number is not NOT_FAST:
                out[name] = number
                continue
            elem = convert_raw_data_element(elem, encoding=encoding, ds=ds)
            if elem.VR == "SQ" or elem.VR in AMBIGUOUS_VR:
                elem = ds[tag]
            else:
                ds[tag] = elem
        value = elem.value
        if value is None or value == "" or not _is_plain(value):
            continue  # an allow-listed keyword holding a sequence or bytes could carry anything: dropped
        out[name] = _jsonable(value)
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax:
        out["TransferSyntaxUID"] = str(syntax)
    return dict(sorted(out.items(), key=lambda kv: DICOM_ALLOWED_TAGS.index(kv[0])))


_TAG_NUMBERS: tuple[tuple[str, int, str], ...] | None = None
