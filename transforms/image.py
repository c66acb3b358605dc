"""2D image standardization: DICOM pixel data to display values, resizing, contrast.

The steps follow the DICOM grayscale pipeline (PS3.3 C.11 and C.7.6.3.1) in its own order:

    stored pixels -> bits stored -> modality (slope/intercept or Modality LUT) -> VOI (window or
    VOI LUT, or a CT window preset, or min-max) -> MONOCHROME1 inversion -> [0, 1] -> uint8/uint16
    -> optional CLAHE -> optional aspect-preserving resize with zero padding to a square

Colour images skip the grayscale steps: YBR_FULL / YBR_FULL_422 are converted to RGB and scaled by
their bits stored. Every step is a pure array function so it can be tested against hand-computed
arrays; `dicom_to_image` chains them from either a pydicom Dataset or an array plus a dict of
DICOM attributes, and returns the image with the metadata a reader needs to interpret it.

Pixels are windowed before the image is quantized, so a 16-bit CT or mammogram keeps its
contrast inside the window rather than being squeezed through 8 bits first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping

import cv2
import numpy as np

from climb.transforms.dicom_pixels import FRAME_ATTRIBUTES, native_frame

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

# name -> (center, width) in Hounsfield units; "climb" is the W700/L80 window of CLIMB's CT videos.
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "abdomen": (40.0, 400.0),
    "climb": (80.0, 700.0),
}

# The usable range of a CT scanner: air is -1000, the 12-bit range tops out at 3071.
HU_RANGE = (-1024.0, 3071.0)

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
OUT_DTYPES = ("uint8", "uint16")
COLOR_SPACES = ("RGB", "YBR_FULL", "YBR_FULL_422")


def mask_bits_stored(arr: np.ndarray, bits_stored: int, signed: bool) -> np.ndarray:
    """Keep the low `bits_stored` bits of each pixel, sign-extending them when signed.

    Stored pixels may carry overlay or garbage bits above the high bit; decoders that hand back
    raw containers (16 bits allocated, 12 stored) leave them in place.

    Args:
        arr: integer array of stored pixel values.
        bits_stored: BitsStored (1..bits of the dtype).
        signed: PixelRepresentation == 1 (two's complement).

    Returns:
        The values in an integer dtype of the input's size, signed as the pixels are.
    """
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"stored pixels must be integers, got {arr.dtype}")
    out_dtype = np.dtype(f"{'i' if signed else 'u'}{arr.dtype.itemsize}")
    values = arr.astype(np.int64) & ((1 << bits_stored) - 1)
    if signed:
        values = np.where(values >= 1 << (bits_stored - 1), values - (1 << bits_stored), values)
    return values.astype(out_dtype)


def rescale(arr: np.ndarray, slope: float = 1.0, intercept: float = 0.0) -> np.ndarray:
    """The linear modality transform: stored value -> output units (HU for CT), float32."""
    return arr.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def clip_hu(arr: np.ndarray, low: float = HU_RANGE[0], high: float = HU_RANGE[1]) -> np.ndarray:
    """Clip Hounsfield units to [low, high]: padding values (-2000, -3024) and metal streaks out."""
    return np.clip(arr, low, high)


def window(arr: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """Map values through a VOI window to [0, 1] (float32).

    Args:
        arr: modality values (HU for CT).
        center, width: Window Center / Window Width in the same units; width >= 1 (LINEAR) or > 0.
        function: VOILUTFunction: LINEAR (the DICOM default, with its half-pixel offsets),
            LINEAR_EXACT or SIGMOID, as defined in PS3.3 C.11.2.1.2.
    """
    x = arr.astype(np.float64)
    function = function.upper()
    if function == "LINEAR":
        if width < 1:
            raise ValueError(f"LINEAR window width must be >= 1, got {width}")
        if width == 1:
            return (x > center - 0.5).astype(np.float32)
        y = (x - (center - 0.5)) / (width - 1) + 0.5
    elif function == "LINEAR_EXACT":
        if width <= 0:
            raise ValueError(f"LINEAR_EXACT window width must be > 0, got {width}")
        y = (x - center) / width + 0.5
    elif function == "SIGMOID":
        if width <= 0:
            raise ValueError(f"SIGMOID window width must be > 0, got {width}")
        y = 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    else:
        raise ValueError(f"unknown VOI LUT function {function!r}; expected one of {VOI_FUNCTIONS}")
    return np.clip(y, 0.0, 1.0).astype(np.float32)


def ct_window(hu: np.ndarray, preset: str) -> np.ndarray:
    """Window Hounsfield units with a named preset from CT_WINDOWS, to [0, 1]."""
    if preset not in CT_WINDOWS:
        raise ValueError(f"unknown CT window {preset!r}; presets are {sorted(CT_WINDOWS)}")
    center, width = CT_WINDOWS[preset]
    return window(hu, center, width)


def minmax(arr: np.ndarray) -> np.ndarray:
    """Stretch the image's own range to [0, 1] (the fallback when a file carries no window)."""
    x = arr.astype(np.float64)
    low, high = float(x.min()), float(x.max())
    if high == low:
        return np.zeros(arr.shape, np.float32)
    return ((x - low) / (high - low)).astype(np.float32)


def full_range(arr: np.ndarray, bits_stored: int, signed: bool = False) -> np.ndarray:
    """Scale the whole stored range to [0, 1] without changing contrast (colour, raw exports)."""
    low = -(1 << (bits_stored - 1)) if signed else 0
    high = (1 << (bits_stored - 1)) - 1 if signed else (1 << bits_stored) - 1
    return np.clip((arr.astype(np.float64) - low) / (high - low), 0.0, 1.0).astype(np.float32)


def invert(unit: np.ndarray) -> np.ndarray:
    """MONOCHROME1 shows low values bright; 1 - x makes it MONOCHROME2 like every other image."""
    return (1.0 - unit).astype(np.float32)


def to_rgb(arr: np.ndarray, photometric: str) -> np.ndarray:
    """Convert a colour image [H, W, 3] from its photometric interpretation to RGB order.

    YBR_FULL and YBR_FULL_422 (after the decoder upsampled the chroma) use the ITU-R BT.601
    full-range matrix, as pydicom's `convert_color_space` implements it.
    """
    from pydicom.pixels import convert_color_space

    photometric = photometric.upper()
    if photometric == "RGB":
        return arr
    if photometric in COLOR_SPACES:
        return convert_color_space(arr, photometric, "RGB")
    raise ValueError(f"cannot convert photometric interpretation {photometric!r} to RGB")


def quantize(unit: np.ndarray, dtype: str = "uint8") -> np.ndarray:
    """[0, 1] floats -> the full range of uint8 or uint16, rounded to nearest."""
    if dtype not in OUT_DTYPES:
        raise ValueError(f"output dtype must be one of {OUT_DTYPES}, got {dtype!r}")
    top = np.iinfo(dtype).max
    return np.rint(np.clip(unit, 0.0, 1.0) * top).astype(dtype)


def clahe(img: np.ndarray, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalization (OpenCV).

    Grayscale uint8/uint16 images are equalized directly; RGB uint8 images on the lightness
    channel of CIELAB so colours do not shift.
    """
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(int(tiles), int(tiles)))
    if img.ndim == 2:
        return op.apply(img)
    if img.dtype != np.uint8:
        raise ValueError(f"CLAHE on colour images needs uint8, got {img.dtype}")
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
    lab[..., 0] = op.apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def resize_pad(img: np.ndarray, size: int, interpolation: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Resize so the long side is `size`, keeping the aspect ratio, then zero-pad to size x size.

    The image is centred; an odd padding puts the extra row/column at the bottom/right.

    Args:
        img: [H, W] or [H, W, C].
        size: side of the square output.
        interpolation: a cv2.INTER_* flag; default INTER_AREA when shrinking (no aliasing),
            INTER_LINEAR when enlarging.

    Returns:
        (image [size, size(, C)], {"scale": [row, col] factors, "pad": [top, bottom, left, right]}).
    """
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    h, w = img.shape[:2]
    factor = size / max(h, w)
    nh, nw = max(1, int(h * factor + 0.5)), max(1, int(w * factor + 0.5))
    if interpolation is None:
        interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    resized = img if (nh, nw) == (h, w) else cv2.resize(img, (nw, nh), interpolation=interpolation)
    top, left = (size - nh) // 2, (size - nw) // 2
    out = np.zeros((size, size) + img.shape[2:], dtype=img.dtype)
    # resized: [nh, nw(, C)] placed at (top, left) of the [size, size(, C)] canvas
    out[top:top + nh, left:left + nw] = resized.reshape((nh, nw) + img.shape[2:])
    return out, {"scale": [nh / h, nw / w], "pad": [top, size - nh - top, left, size - nw - left]}


@dataclass(frozen=True)
class DisplayParams:
    """The DICOM attributes that decide how stored pixels become a displayed image."""

    photometric: str
    bits_stored: int
    signed: bool
    slope: float
    intercept: float
    window: tuple[float, float] | None
    voi_function: str
    has_modality_lut: bool
    has_voi_lut: bool
    spacing: tuple[float, float] | None
    modality: str | None


def _first(value: Any) -> Any:
    """Multi-valued attributes (several windows) -> the first, which is the default view."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) else None
    return value


def _spacing(attrs: Any) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = attrs.get(keyword)
        if value is not None and len(value) == 2:
            row, col = float(value[0]), float(value[1])
            if row > 0 and col > 0:
                return row, col
    return None


def display_params(attrs: "Dataset | Mapping[str, Any]") -> DisplayParams:
    """Read the display attributes from a pydicom Dataset or a dict keyed by DICOM keyword.

    Missing attributes take their DICOM defaults (slope 1, intercept 0, unsigned, LINEAR);
    BitsStored defaults to the array's own size and is required for colour scaling only.
    Spacing is PixelSpacing, else ImagerPixelSpacing (projection radiographs), in mm (row, col).
    """
    center, width = _first(attrs.get("WindowCenter")), _first(attrs.get("WindowWidth"))
    has_window = center is not None and width is not None and float(width) > 0
    modality = attrs.get("Modality")
    return DisplayParams(
        photometric=str(attrs.get("PhotometricInterpretation") or "MONOCHROME2").strip().upper(),
        bits_stored=int(attrs.get("BitsStored") or 0),
        signed=int(attrs.get("PixelRepresentation") or 0) == 1,
        slope=float(attrs.get("RescaleSlope") if attrs.get("RescaleSlope") is not None else 1.0),
        intercept=float(attrs.get("RescaleIntercept") if attrs.get("RescaleIntercept") is not None else 0.0),
        window=(float(center), float(width)) if has_window else None,
        voi_function=str(attrs.get("VOILUTFunction") or "LINEAR").strip().upper(),
        has_modality_lut=bool(attrs.get("ModalityLUTSequence")),
        has_voi_lut=bool(attrs.get("VOILUTSequence")),
        spacing=_spacing(attrs),
        modality=str(modality) if modality else None,
    )


def _window_spec(spec: Any) -> tuple[str, tuple[float, float] | None]:
    """Normalise the `window` argument to (kind, (center, width) or None)."""
    if spec is None:
        return "auto", None
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key in ("auto", "minmax", "full"):
            return key, None
        if key in CT_WINDOWS:
            return key, CT_WINDOWS[key]
        if "," in key:
            center, width = (float(v) for v in key.split(","))
            return "explicit", (center, width)
        raise ValueError(f"unknown window {spec!r}: use auto, minmax, full, {', '.join(CT_WINDOWS)} or 'center,width'")
    center, width = spec
    return "explicit", (float(center), float(width))


def voi_meta(kind: str, center: float | None = None, width: float | None = None, function: str | None = None) -> dict[str, Any]:
    """The VOI description written to meta["image"]["voi"]: one shape whatever the kind.

    kind is "window" (center/width in modality units, VOI LUT function), "voi_lut", "minmax" or
    "full"; the other keys are null unless kind is "window". A single shape keeps the json member
    one Arrow type across samples (a window in one sample and a bare string in the next cannot
    share a column).
    """
    return {"kind": kind, "center": center, "width": width, "function": function}


def _grayscale_unit(pixels: np.ndarray, params: DisplayParams, ds: "Dataset | None", spec: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Stored grayscale pixels -> [0, 1] display values and a JSON description of the VOI used."""
    kind, chosen = _window_spec(spec)
    if kind == "full":
        return full_range(pixels, params.bits_stored, params.signed), voi_meta("full")
    if ds is not None and params.has_modality_lut:
        from pydicom.pixels import apply_modality_lut

        values = apply_modality_lut(pixels, ds)
    elif (params.slope, params.intercept) != (1.0, 0.0):
        values = rescale(pixels, params.slope, params.intercept)
    else:
        values = pixels
    if chosen is not None:
        return window(values, *chosen), voi_meta("window", chosen[0], chosen[1], "LINEAR")
    if kind == "auto" and ds is not None and params.has_voi_lut:
        from pydicom.pixels import apply_voi

        lut_bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return (apply_voi(values, ds).astype(np.float64) / ((1 << lut_bits) - 1)).astype(np.float32), voi_meta("voi_lut")
    if kind == "auto" and params.window is not None:
        center, width = params.window
        return window(values, center, width, params.voi_function), voi_meta("window", center, width, params.voi_function)
    return minmax(values), voi_meta("minmax")


def dicom_to_image(
    src: "Dataset | np.ndarray",
    meta: Mapping[str, Any] | None = None,
    *,
    window: Any = None,
    out_dtype: str = "uint8",
    size: int | None = None,
    clahe_clip: float | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Standardize one DICOM frame into a display image.

    Args:
        src: a pydicom Dataset with pixel data (decoded here, without pydicom's own colour
            conversion, so the stored photometric interpretation is the one honoured), or the
            stored pixel array [H, W] / [H, W, 3] of one frame.
        meta: with an array `src`, its DICOM attributes keyed by keyword (PhotometricInterpretation,
            BitsStored, PixelRepresentation, RescaleSlope, RescaleIntercept, WindowCenter,
            WindowWidth, VOILUTFunction, PixelSpacing, ImagerPixelSpacing). With a Dataset, optional:
            its allow-listed attributes already read (transforms/phi.dicom_allowed_tags), so they
            are not looked up in the Dataset a second time (its LUT sequences still are).
        window: grayscale VOI choice. None/"auto": the file's VOI LUT, else its first window,
            else min-max. "minmax": the image's own range. "full": the whole stored range,
            no modality transform. A CT preset name (lung, mediastinum, abdomen, climb) or
            (center, width) / "center,width" in modality units (HU for CT).
        out_dtype: "uint8" or "uint16".
        size: if given, long side resized to `size` and zero-padded to size x size.
        clahe_clip: if given, CLAHE with this clip limit (8x8 tiles) before resizing.

    Returns:
        (image uint8/uint16 [H, W] or [H, W, 3] RGB, meta) where meta is the schema's
        `meta["image"]`: spacing (row, col mm after resizing, or None), photometric (as stored),
        inverted, voi (`voi_meta`: kind window/voi_lut/minmax/full), original_shape, and when
        resized: scale and pad.

    Raises:
        ValueError: multi-frame pixel data, or a photometric interpretation it cannot display.
    """
    ds = None
    if isinstance(src, np.ndarray):
        pixels = src
        params = display_params(meta or {})
    else:
        from pydicom.pixels import pixel_array

        ds = src
        if meta is None:
            params = display_params(ds)
            attrs: Mapping[str, Any] = {name: ds.get(name) for name in FRAME_ATTRIBUTES}
            attrs = {**attrs, "TransferSyntaxUID": getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)}
        else:
            luts = {name: ds.get(name) for name in ("ModalityLUTSequence", "VOILUTSequence")}
            params = display_params({**meta, **luts})
            attrs = meta
        pixels = native_frame(ds.get("PixelData"), attrs)
        if pixels is None:
            pixels = pixel_array(ds, raw=True)
    if params.photometric not in COLOR_SPACES + ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(f"cannot display photometric interpretation {params.photometric!r}")
    color = params.photometric in COLOR_SPACES
    if pixels.ndim != (3 if color else 2):
        raise ValueError(
            f"expected one {'colour' if color else 'grayscale'} frame, got shape {pixels.shape} "
            f"({params.photometric}); multi-frame data belongs to a video or volume source")
    bits = params.bits_stored or 8 * pixels.dtype.itemsize
    if np.issubdtype(pixels.dtype, np.integer):
        pixels = mask_bits_stored(pixels, bits, params.signed)
    params = replace(params, bits_stored=bits)
    image_meta: dict[str, Any] = {"photometric": params.photometric, "inverted": False}
    if color:
        unit = full_range(to_rgb(pixels, params.photometric), bits)
        image_meta["voi"] = voi_meta("full")
    else:
        unit, image_meta["voi"] = _grayscale_unit(pixels, params, ds, window)
        if params.photometric == "MONOCHROME1":
            unit = invert(unit)
            image_meta["inverted"] = True
    image = quantize(unit, out_dtype)
    if clahe_clip is not None:
        image = clahe(image, clahe_clip)
    image_meta["original_shape"] = list(image.shape[:2])
    spacing = params.spacing
    if size is not None:
        image, placement = resize_pad(image, int(size))
        image_meta.update(placement)
        if spacing is not None:
            spacing = (spacing[0] / placement["scale"][0], spacing[1] / placement["scale"][1])
    image_meta["spacing"] = list(spacing) if spacing is not None else None
    return image, image_meta
