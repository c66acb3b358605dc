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

from climb.pipelines.writers.png import DEFAULT_PNG, png_bytes

VIDEO_FOURCC = "mp4v"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def json_bytes(value: Any) -> bytes:
    """Canonical JSON: sorted keys, compact, UTF-8; NaN is refused (it is not JSON)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


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


def encode_members(arrays: dict[str, Any], meta: dict[str, Any], png: str = DEFAULT_PNG) -> dict[str, bytes]:
    """All members of one record except volumes (which go to Zarr), keyed by member name.

    Args:
        arrays: the sample's fields (volume excluded by the caller; its preview arrives as
            arrays["preview"], a uint8 image).
        meta: the full metadata dict written as the `json` member.
        png: the PNG codec of image members (pipelines/writers/png.py).
    """
    members: dict[str, bytes] = {"json": json_bytes(meta)}
    for name, value in arrays.items():
        if name in ("image", "preview"):
            members[f"{name}.png"] = png_bytes(value, png)
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
