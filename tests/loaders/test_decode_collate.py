"""Decoding members and collating mixed batches; shards stay readable by plain webdataset."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
import torch
import webdataset as wds

from climb.loaders import ClimbDataset, collate
from climb.loaders.decode import TaskSpec, decode_sample, mp4, npy, png
from climb.pipelines.writers.members import encode_members, mp4_bytes, npy_bytes, png_bytes


def test_plain_webdataset_reads_the_same_shards_and_bytes(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    urls = [str(dataset / s["path"]) for s in manifest["shards"] if s["split"] == "train"]
    plain = {r["__key__"]: r for r in wds.WebDataset(urls, shardshuffle=False, empty_check=False)}
    ours = {s["__key__"]: s for s in ClimbDataset(str(dataset), split="train", shuffle=False)}
    assert set(plain) == set(ours) and len(plain) == 97
    for key, record in plain.items():
        assert json.loads(record["json"]) == ours[key]["meta"]
        if "signal.npy" in record:
            assert np.array_equal(np.load(io.BytesIO(record["signal.npy"])), ours[key]["signal"].numpy())
        if "image.png" in record:
            assert np.array_equal(png(record["image.png"]).numpy(), ours[key]["image"].numpy())


@pytest.mark.parametrize("image", [
    np.arange(12, dtype=np.uint8).reshape(3, 4),
    (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4),
    np.arange(36, dtype=np.uint8).reshape(3, 4, 3),
])
def test_png_round_trips_bit_depth_and_rgb_order(image):
    out = png(png_bytes(image))
    assert out.dtype == torch.from_numpy(image).dtype
    assert np.array_equal(out.numpy(), image)


PNG_IMAGES = [
    np.arange(12, dtype=np.uint8).reshape(3, 4),
    (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4),
    np.arange(36, dtype=np.uint8).reshape(3, 4, 3),
    (np.arange(36, dtype=np.uint16) * 1800).reshape(3, 4, 3),
    np.random.default_rng(0).integers(0, 256, (224, 224), dtype=np.uint8),
    np.random.default_rng(1).integers(0, 256, (1, 9), dtype=np.uint8),
    np.random.default_rng(2).integers(0, 65536, (5, 7, 3), dtype=np.uint16),
    np.random.default_rng(3).integers(0, 256, (257, 3), dtype=np.uint8),
]


@pytest.mark.parametrize("codec", ["fast", "compact"])
@pytest.mark.parametrize("image", PNG_IMAGES, ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_png_gives_what_opencv_gives_for_either_codec(image, codec):
    data = png_bytes(image, codec)
    reference = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if reference.ndim == 3:
        reference = cv2.cvtColor(reference, cv2.COLOR_BGR2RGB)
    out = png(data).numpy()
    assert out.dtype == reference.dtype and np.array_equal(out, reference)


@pytest.mark.parametrize("image", PNG_IMAGES[-4:], ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_an_up_filtered_png_decodes_without_opencv(monkeypatch, image):
    def refuse(*args, **kwargs):
        raise AssertionError("OpenCV was asked to decode an Up-filtered PNG")

    monkeypatch.setattr(cv2, "imdecode", refuse)
    assert np.array_equal(png(png_bytes(image, "fast")).numpy(), image)


def test_a_damaged_png_is_refused_with_a_value_error():
    data = bytearray(png_bytes(PNG_IMAGES[4], "fast"))
    data[200] ^= 0xFF  # inside the compressed rows: the zlib checksum no longer matches
    with pytest.raises(ValueError, match="not a decodable PNG"):
        png(bytes(data))


def png_claiming(width: int, height: int, depth: int, color: int, rows: bytes) -> bytes:
    """A small PNG whose header claims width x height pixels; `rows` are the (filtered) bytes it holds."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_a_png_declaring_ten_billion_pixels_is_refused():
    with pytest.raises(ValueError, match="declares 10,000,000,000 bytes of pixels"):
        png(png_claiming(100_000, 100_000, 8, 0, b"\x02" * 1000))


def test_a_png_bomb_under_opencvs_pixel_limit_is_refused_before_opencv_allocates_it(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("OpenCV was handed a PNG declaring 2.4 GB of pixels")  # it allocates them as the rows inflate

    monkeypatch.setattr(cv2, "imdecode", refuse)
    bomb = png_claiming(20_000, 20_000, 16, 2, b"\x04" * 1000)  # Paeth rows: OpenCV's path; 4e8 pixels < 2^30
    assert len(bomb) < 200
    with pytest.raises(ValueError, match="over the loader's limit"):
        png(bomb)


def test_npy_over_read_only_bytes_is_a_writable_copy_unless_the_caller_borrows_them():
    arr = np.arange(24, dtype=np.float32).reshape(2, 12)
    data = bytes(npy_bytes(arr))  # as fetched from an object store: immutable
    copied, borrowed = npy(data), npy(data, borrow=True)
    assert np.array_equal(copied.numpy(), arr) and np.array_equal(borrowed.numpy(), arr)
    assert not np.shares_memory(copied.numpy(), np.frombuffer(data, np.uint8))
    assert np.shares_memory(borrowed.numpy(), np.frombuffer(data, np.uint8))


def test_npy_is_a_zero_copy_view_of_a_writable_buffer_and_a_copy_otherwise():
    arr = np.arange(24, dtype=np.float32).reshape(2, 12)
    buf = bytearray(npy_bytes(arr))
    view = npy(buf)
    assert np.array_equal(view.numpy(), arr)
    view[0, 0] = 99
    assert np.frombuffer(buf, dtype=np.float32)[-24] == 99
    assert np.array_equal(npy(bytes(npy_bytes(arr))).numpy(), arr)


def test_mp4_decodes_every_frame_as_rgb():
    frames = np.zeros((5, 16, 16, 3), dtype=np.uint8)
    frames[..., 0] = 200
    out = mp4(mp4_bytes(frames, fps=5.0))
    assert out.shape == (5, 16, 16, 3) and out.dtype == torch.uint8
    assert abs(out[..., 0].float().mean().item() - 200) < 8 and out[..., 2].float().mean() < 8


def test_labels_become_tensors_with_masks_for_every_task_type():
    tasks = {
        "b": TaskSpec("b", "binary", 2),
        "m": TaskSpec("m", "multiclass", 5),
        "ml": TaskSpec("ml", "multilabel", 3),
        "r": TaskSpec("r", "regression", 0),
        "absent": TaskSpec("absent", "multiclass", 4),
    }
    meta = {"labels": {"b": None, "m": 3, "ml": [1, None, 0], "r": 2.5}}
    s = decode_sample("k", {"json": json.dumps(meta).encode()}, tasks)
    assert s["labels"]["b"].item() == -1 and not s["label_mask"]["b"]
    assert s["labels"]["m"].item() == 3 and s["label_mask"]["m"]
    assert s["labels"]["ml"].tolist() == [1.0, 0.0, 0.0] and s["label_mask"]["ml"].tolist() == [True, False, True]
    assert s["labels"]["r"].item() == 2.5 and s["labels"]["r"].dtype == torch.float32
    assert s["labels"]["absent"].item() == -1 and not s["label_mask"]["absent"]
    dtypes = {name: (s["labels"][name].dtype, s["labels"][name].shape, s["label_mask"][name].dtype) for name in tasks}
    assert dtypes == {"b": (torch.int64, (), torch.bool), "m": (torch.int64, (), torch.bool),
                      "ml": (torch.float32, (3,), torch.bool), "r": (torch.float32, (), torch.bool),
                      "absent": (torch.int64, (), torch.bool)}


def sample(key, **fields):
    members = encode_members(fields, {"video": {"fps": 5.0}})
    return decode_sample(key, members, {"t": TaskSpec("t", "binary", 2)})


def test_collate_pads_signals_and_videos_with_length_masks_and_marks_missing_fields():
    a = sample("a", signal=np.ones((2, 5), np.float32), video=np.zeros((3, 8, 8), np.uint8))
    b = sample("b", signal=np.ones((3, 7), np.float32))
    c = sample("c", video=np.zeros((4, 8, 8), np.uint8))
    batch = collate([a, b, c])
    assert batch["signal"].shape == (3, 3, 7)
    assert batch["signal_mask"].tolist() == [[True] * 5 + [False] * 2, [True] * 7, [False] * 7]
    assert batch["signal_present"].tolist() == [True, True, False]
    assert batch["signal"][0, 2].abs().sum() == 0 and batch["signal"][0, :2, :5].sum() == 10
    assert batch["video"].shape == (3, 4, 8, 8, 3)
    assert batch["video_mask"].sum(1).tolist() == [3, 0, 4]
    assert batch["labels"]["t"].tolist() == [-1, -1, -1]


def test_collate_broadcasts_gray_images_next_to_rgb_and_masks_padding():
    gray = sample("g", image=np.full((4, 6), 7, np.uint8))
    rgb = sample("c", image=np.full((5, 5, 3), 9, np.uint8))
    batch = collate([gray, rgb])
    assert batch["image"].shape == (2, 5, 6, 3)
    assert batch["image"][0, :4, :6].unique().tolist() == [7]
    assert batch["image_mask"][0].sum() == 24 and batch["image_mask"][1].sum() == 25


def test_collate_joins_graphs_into_one_disjoint_graph_with_a_batch_vector():
    def graph(n):
        ring = np.array([[i, (i + 1) % n] for i in range(n)], dtype=np.int64).T
        return {"x": np.full((n, 2), n, np.float32), "edge_index": ring, "edge_attr": np.ones((n, 1), np.float32)}

    batch = collate([sample("a", graph=graph(3)), sample("b", text="no graph"), sample("c", graph=graph(2))])
    g = batch["graph"]
    assert g["x"].shape == (5, 2) and g["edge_attr"].shape == (5, 1)
    assert g["batch"].tolist() == [0, 0, 0, 2, 2]
    assert g["ptr"].tolist() == [0, 3, 3, 5] and g["num_graphs"] == 3
    assert g["edge_index"][:, 3:].tolist() == [[3, 4], [4, 3]]
    assert batch["graph_present"].tolist() == [True, False, True]
    assert batch["text"] == [None, "no graph", None]


def test_real_batches_from_the_corpus_have_one_layout(dataset):
    ds = ClimbDataset(str(dataset), split="train", seed=3)
    batches = list(ds.loader(batch_size=16))
    assert sum(len(b["__key__"]) for b in batches) == len(ds)
    for b in batches:
        n = len(b["__key__"])
        assert set(b["labels"]) == {"eeg_abnormal", "sleep_stage", "ecg_harmonized", "length_of_stay"}
        assert b["labels"]["ecg_harmonized"].shape == b["label_mask"]["ecg_harmonized"].shape == (n, 7)
        if "signal" in b:
            assert b["signal"].shape[:2] == (n, 12)
            if "signal_mask" in b:  # present only when the batch's signals had to be padded
                assert b["signal_mask"].shape == (n, b["signal"].shape[2])
        if "graph" in b:
            assert b["graph"]["batch"].max() < n
    assert sum(int(b["signal_present"].sum()) for b in batches if "signal" in b) > 40


def test_images_decode_to_the_pixels_the_source_wrote(dataset):
    raw = dataset.parent.parent / "raw"
    by_shape = {}
    for s in ClimbDataset(str(dataset), split="val", modalities=("image",), shuffle=False):
        if "image" in s:
            by_shape.setdefault(tuple(s["image"].shape), []).append(s["image"].numpy())
    originals = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(raw.glob("*.png"))]
    originals = [cv2.cvtColor(o, cv2.COLOR_BGR2RGB) if o.ndim == 3 else o for o in originals]
    for shape, images in by_shape.items():
        for img in images:
            assert any(o.shape == shape and np.array_equal(o, img) for o in originals)
