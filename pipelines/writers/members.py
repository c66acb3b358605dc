"""Encode a standardized sample into named WebDataset members (bytes), deterministically.

Member names are ``<field>.<ext>`` so shards describe themselves to any WebDataset reader:
``image.png``, ``signal.npy``, ``video.mp4``, ``graph.npz``, ``text.txt``, ``tabular.json``,
``preview.png`` and the metadata member ``json``. Every encoder here yields the same bytes for the same
array on every run and machine (fixed zip timestamps, fixed codec settings), which is what makes
whole shards byte-reproducible.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

PNG_COMPRESSION = 1  # zlib level 1: 2x faster than 3 at <5% larger files; decoding speed is the same
PNG_FILTER = "PAETH"
"""One PNG row filter for every row instead of libpng's adaptive choice among all five: ~30% less
encoding time (1-58% over the test images), files within 3% of the adaptive size (camera, astronaut,
CT, MR, US, CR, RGB at 224 px and native size; docs/SCALING.md)."""
FLAT_SHARE = 0.45
"""Above this share of pixels equal to their left neighbour, an image has the long runs zlib's
string matching shrinks (ultrasound sectors, masks, screenshots, padded borders): it keeps the
default strategy. Below it, the Paeth residuals are noise-like and matches rarely pay, so the
bytes are Huffman-coded only: CT, MR and radiographs at 224 px and native size encode in
0.66-0.91x the time into 0.78-0.97x the bytes and decode in 0.85-1.0x the time (docs/SCALING.md)."""
HUFFMAN_FLOOR = 4
"""Huffman coding spends at least one bit per byte; a result under raw size / HUFFMAN_FLOOR is
redundant enough (smooth gradients) that the default strategy is tried too and the smaller kept."""
VIDEO_FOURCC = "mp4v"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def json_bytes(value: Any) -> bytes:
    """Canonical JSON: sorted keys, compact, UTF-8; NaN is refused (it is not JSON)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def png_bytes(image: np.ndarray) -> bytes:
    """Lossless PNG of a uint8/uint16 grayscale [H, W] or RGB [H, W, 3] image.

    The zlib strategy is chosen from the pixels (FLAT_SHARE, HUFFMAN_FLOOR), so the same image
    always gives the same bytes.
    """
    import cv2

    arr = image
    if arr.ndim == 3:
        arr = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2BGR)
    arr = np.ascontiguousarray(arr)
    if _flat_share(arr) > FLAT_SHARE:
        return _png(arr, cv2.IMWRITE_PNG_STRATEGY_DEFAULT)
    data = _png(arr, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY)
    if len(data) * HUFFMAN_FLOOR < arr.nbytes:
        matched = _png(arr, cv2.IMWRITE_PNG_STRATEGY_DEFAULT)
        data = matched if len(matched) < len(data) else data
    return data


def _flat_share(arr: np.ndarray) -> float:
    """Share of pixels (channels side by side) equal to their left neighbour."""
    rows = arr.reshape(arr.shape[0], -1)
    step = arr.shape[2] if arr.ndim == 3 else 1
    if rows.shape[1] <= step:
        return 1.0
    return np.count_nonzero(rows[:, step:] == rows[:, :-step]) / rows[:, step:].size


def _png(arr: np.ndarray, strategy: int) -> bytes:
    import cv2

    params = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION, cv2.IMWRITE_PNG_FILTER,
              getattr(cv2, f"IMWRITE_PNG_FILTER_{PNG_FILTER}"), cv2.IMWRITE_PNG_STRATEGY, strategy]
    ok, buf = cv2.imencode(".png", arr, params)
    if not ok:
        raise ValueError(f"PNG encoding failed for an array of shape {arr.shape} and dtype {arr.dtype}")
    return buf.tobytes()


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An uncompressed .npz (np.load-compatible) with fixed timestamps, members in sorted order.

    numpy's own savez stamps the current time into the zip, so two runs would differ.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(k for k, v in arrays.items() if v is not None):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy_bytes(arrays[name]))
    return buf.getvalue()


def mp4_bytes(frames: np.ndarray, fps: float) -> bytes:
    """MPEG-4 (mp4v) video of uint8 frames [T, H, W] or [T, H, W, 3] (RGB).

    H.264 is not available in the pinned opencv-python-headless wheel; mp4v is, and encodes the same
    frames to the same bytes run after run. Grayscale frames are stored as 3 equal channels.
    """
    from climb.transforms.video import video_cv2

    cv2 = video_cv2()
    if frames.ndim not in (3, 4):
        raise ValueError(f"video frames must be [T,H,W] or [T,H,W,3], got shape {frames.shape}")
    t, h, w = frames.shape[:3]
    with tempfile.TemporaryDirectory(prefix="climb-video-") as tmp:
        path = os.path.join(tmp, "video.mp4")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*VIDEO_FOURCC), float(fps), (w, h), True)
        if not writer.isOpened():
            raise RuntimeError("OpenCV could not open an mp4v video writer")
        try:
            for i in range(t):
                frame = frames[i]
                bgr = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
                writer.write(np.ascontiguousarray(bgr))
        finally:
            writer.release()
        with open(path, "rb") as f:
            return f.read()


def encode_members(arrays: dict[str, Any], meta: dict[str, Any]) -> dict[str, bytes]:
    """All members of one record except volumes (which go to Zarr), keyed by member name.

    Args:
        arrays: the sample's fields (volume excluded by the caller; its preview arrives as
            arrays["preview"], a uint8 image).
        meta: the full metadata dict written as the `json` member.
    """
    members: dict[str, bytes] = {"json": json_bytes(meta)}
    for name, value in arrays.items():
        if name in ("image", "preview"):
            members[f"{name}.png"] = png_bytes(value)
        elif name == "signal":
            members["signal.npy"] = npy_bytes(value)
        elif name == "video":
            members["video.mp4"] = mp4_bytes(value, meta["video"]["fps"])
        elif name == "graph":
            members["graph.npz"] = npz_bytes(value)
        elif name == "text":
            members["text.txt"] = value.encode("utf-8")
        elif name == "tabular":
            members["tabular.json"] = json_bytes(value)
        else:
            raise ValueError(f"no encoder for field {name!r}")
    return members
