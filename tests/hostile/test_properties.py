"""Properties (hypothesis) of the pieces every byte passes through: tar fragments, shards and their
index, the shard cut, member encoders, safe text, path checks and standardizing transforms.
The loader's shard plan has its own properties in tests/loaders/test_plan.py."""

from __future__ import annotations

import io
import json
import os
import posixpath
import tarfile

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from climb.pipelines.records import escapes_root
from climb.pipelines.writers.members import json_bytes, npy_bytes, npz_bytes, png_bytes
from climb.pipelines.writers.wds_tar import cut_shards, make_fragment, write_shard
from climb.schemas.manifest import safe_relative_path
from climb.transforms.image import resize_pad, window
from climb.transforms.safe_text import printable, spreadsheet_safe
from climb.transforms.signal import fix_length
from climb.transforms.video import sample_indices
from climb.transforms.volume import reorient_to_ras

FAST = settings(max_examples=60, deadline=None)
keys = st.text("0123456789abcdef", min_size=1, max_size=24)
member_names = st.text("abcdefghijklmnopqrstuvwxyz.", min_size=1, max_size=12).filter(lambda s: not s.startswith("."))
samples = st.dictionaries(keys, st.dictionaries(member_names, st.binary(max_size=1500), min_size=1, max_size=4), min_size=1, max_size=6)


@FAST
@given(samples)
def test_a_shard_holds_exactly_its_members_and_its_index_points_at_their_bytes(by_key):
    fragments = [make_fragment(k, members) for k, members in sorted(by_key.items())]
    out = io.BytesIO()
    index, digest, size = write_shard(fragments, out, "train-00000.tar")
    data = out.getvalue()
    assert size == len(data) and size % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        read = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        assert all(m.mtime == 0 and m.uid == 0 and m.mode == 0o644 for m in tar.getmembers())
    assert read == {f"{k}.{m}": v for k, members in by_key.items() for m, v in members.items()}
    for entry in index["samples"]:
        for member, (offset, length) in entry["members"].items():
            assert data[offset:offset + length] == by_key[entry["key"]][member]


@FAST
@given(st.lists(st.integers(1, 10_000), max_size=60), st.integers(1, 20_000))
def test_shard_cuts_partition_the_samples_in_order_and_respect_the_target(sizes, target):
    ranges = cut_shards(sizes, target)
    assert [i for start, end in ranges for i in range(start, end)] == list(range(len(sizes)))
    for start, end in ranges:
        assert end > start
        assert sum(sizes[start:end]) <= target or end - start == 1
    assert cut_shards(sizes, target) == ranges


@FAST
@given(st.one_of(
    hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40)),
    hnp.arrays(np.uint16, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40)),
    hnp.arrays(np.uint8, st.tuples(st.integers(1, 30), st.integers(1, 30), st.just(3))),
))
def test_png_members_decode_to_the_exact_pixels_and_encode_identically_twice(image):
    data = png_bytes(image)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image.ndim == 3:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    assert decoded.dtype == image.dtype and np.array_equal(decoded, image)
    assert png_bytes(image) == data


@FAST
@given(hnp.arrays(st.sampled_from([np.float32, np.int16, np.int64]), hnp.array_shapes(max_dims=3, max_side=8)),
       hnp.arrays(np.float32, hnp.array_shapes(max_dims=2, max_side=8)))
def test_npy_and_npz_members_round_trip_bit_exactly_and_deterministically(a, b):
    assert np.array_equal(np.load(io.BytesIO(npy_bytes(a))), a, equal_nan=a.dtype.kind == "f")
    loaded = np.load(io.BytesIO(npz_bytes({"x": a, "edge_attr": b})))
    assert np.array_equal(loaded["x"], a, equal_nan=a.dtype.kind == "f") and np.array_equal(loaded["edge_attr"], b, equal_nan=True)
    assert npz_bytes({"x": a, "edge_attr": b}) == npz_bytes({"edge_attr": b, "x": a})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@FAST
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_json_members_are_canonical_whatever_the_key_order(value):
    reordered = dict(reversed(list(value.items())))
    assert json_bytes(value) == json_bytes(reordered)
    assert json.loads(json_bytes(value)) == value


@FAST
@given(st.text(max_size=40))
def test_spreadsheet_safe_text_never_starts_a_formula(text):
    safe = spreadsheet_safe(text)
    assert not safe.startswith(("=", "@", "\t", "\r", "\n")) or safe.startswith("'")
    if safe.startswith(("+", "-")) and not safe.startswith("'"):
        float(safe)  # only plain numbers keep a leading sign
    safe.encode("utf-8")


@FAST
@given(st.binary(max_size=30))
def test_any_file_name_bytes_print_as_valid_utf8(raw):
    name = os.fsdecode(raw)
    printable(name).encode("utf-8")
    assert printable(name) == name or "\\x" in printable(name)


segments = st.lists(st.sampled_from(["a", "b", "..", ".", "c.dcm", ""]), min_size=1, max_size=6)


@FAST
@given(segments)
def test_escapes_root_is_true_exactly_when_the_path_resolves_outside_the_raw_folder(parts):
    path = "/data/raw/" + "/".join(parts)
    resolved = posixpath.normpath(path)
    assert escapes_root(path, "/data/raw") == (not (resolved + "/").startswith("/data/raw/"))


@FAST
@given(st.text(max_size=30))
def test_a_path_judged_safe_stays_inside_the_dataset_folder(path):
    if safe_relative_path(path):
        assert posixpath.normpath(posixpath.join("/ds", path)).startswith("/ds/")
        assert "://" not in path


@FAST
@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 60), st.integers(1, 60))), st.integers(1, 48))
def test_resize_pad_gives_a_square_of_the_same_dtype_with_a_consistent_placement(image, size):
    out, placement = resize_pad(image, size)
    top, bottom, left, right = placement["pad"]
    assert out.shape == (size, size) and out.dtype == image.dtype
    assert min(top, bottom, left, right) >= 0 and (top == 0 and bottom == 0 or left == 0 and right == 0)


@FAST
@given(hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(-5000, 5000)), st.floats(-1000, 1000), st.floats(1, 4000),
       st.sampled_from(["LINEAR", "LINEAR_EXACT", "SIGMOID"]))
def test_a_voi_window_maps_into_the_unit_interval_monotonically(values, center, width, function):
    out = window(np.sort(values), center, width, function)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    assert np.all(np.diff(out) >= 0)


@FAST
@given(st.integers(1, 500), st.floats(1, 120), st.one_of(st.none(), st.integers(1, 64)), st.one_of(st.none(), st.floats(1, 120)))
def test_frame_sampling_stays_inside_the_clip_and_in_time_order(frames, fps, count, target):
    if count is not None and target is not None:
        target = None
    indices, out_fps = sample_indices(frames, fps, count=count, target_fps=target)
    assert len(indices) and indices.min() >= 0 and indices.max() < frames and np.all(np.diff(indices) >= 0)
    assert out_fps > 0 and (count is None or len(indices) == count)


@FAST
@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(0, 60))), st.integers(1, 80), st.sampled_from(["start", "center"]))
def test_fix_length_gives_the_length_and_keeps_a_contiguous_run_of_the_input(x, length, align):
    out, policy = fix_length(x, length, align)
    assert out.shape == (x.shape[0], length)
    kept = min(length, x.shape[1])
    assert policy["cropped_samples"] + kept == x.shape[1] and policy["padded_samples"] + kept == length


@FAST
@given(hnp.arrays(np.int16, st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5))),
       st.permutations([0, 1, 2]), st.tuples(st.sampled_from([-1, 1]), st.sampled_from([-1, 1]), st.sampled_from([-1, 1])),
       st.tuples(st.floats(0.5, 3), st.floats(0.5, 3), st.floats(0.5, 3)))
def test_reorienting_to_ras_only_permutes_and_flips_voxels(data, perm, signs, spacing):
    affine = np.zeros((4, 4))
    for axis, (target, sign, step) in enumerate(zip(perm, signs, spacing)):
        affine[target, axis] = sign * step
    affine[3, 3] = 1
    out, layout = reorient_to_ras(data, affine)
    assert sorted(out.ravel().tolist()) == sorted(data.ravel().tolist())
    assert sorted(out.shape) == sorted(data.shape)
