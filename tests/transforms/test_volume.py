"""transforms/volume.py: windows, HU, resampling, RAS reorientation, series geometry, preview."""

import os

import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path

from climb.transforms.volume import (
    CT_WINDOWS,
    GeometryError,
    apply_window,
    clip_hu,
    ras_layout,
    reorient_to_ras,
    resample,
    resampled_affine,
    series_geometry,
    slice_normal,
    to_hu,
    volume_preview,
)

AXIAL = [1, 0, 0, 0, 1, 0]


def test_named_windows_match_the_documented_center_and_width():
    assert CT_WINDOWS["lung"] == (-600.0, 1500.0)
    assert CT_WINDOWS["climb"] == (80.0, 700.0)
    assert CT_WINDOWS["mediastinum"] == (50.0, 350.0)
    assert CT_WINDOWS["abdomen"] == (40.0, 400.0)


def test_lung_window_maps_its_edges_to_0_and_255_and_the_center_to_the_middle():
    hu = np.array([-1350, -1500, -600, 150, 2000, -975], dtype=np.int16)
    # lo = -1350, width 1500: -975 -> 375/1500*255 = 63.75 -> 64; -600 -> 127.5 -> 128 (half to even)
    assert apply_window(hu, "lung").tolist() == [0, 0, 128, 255, 255, 64]


def test_climb_window_is_w700_l80():
    hu = np.array([-270, 80, 430, 255], dtype=np.int16)
    # lo = -270: 255 HU -> 525/700*255 = 191.25 -> 191
    assert apply_window(hu, "climb").tolist() == [0, 128, 255, 191]


def test_window_accepts_a_center_width_pair_and_rejects_unknown_names():
    assert apply_window(np.array([0, 50, 100]), (50, 100)).tolist() == [0, 128, 255]
    assert apply_window(np.array([0, 50, 100]), "50, 100").tolist() == [0, 128, 255]
    with pytest.raises(KeyError, match="unknown CT window"):
        apply_window(np.zeros(1), "bone-ish")


def test_clip_hu_keeps_int16_and_clips_scanner_padding():
    out = clip_hu(np.array([-3024, -1024, 0, 4000], dtype=np.int16))
    assert out.dtype == np.int16
    assert out.tolist() == [-1024, -1024, 0, 3071]


def test_to_hu_applies_slope_and_intercept_rounds_and_saturates():
    out = to_hu(np.array([0, 1000, 1025, 65535], dtype=np.uint16), slope=1.0, intercept=-1024.0)
    assert out.dtype == np.int16
    assert out.tolist() == [-1024, -24, 1, 32767]
    assert to_hu(np.array([3, 5], dtype=np.int16), slope=0.5, intercept=0).tolist() == [2, 2]  # 1.5, 2.5 -> even


def test_resample_keeps_the_extent_and_interpolates_voxel_centres():
    vol = np.array([[[0, 10, 20, 30]]], dtype=np.int16)
    out, spacing = resample(vol, (1.0, 1.0, 1.0), (1.0, 1.0, 2.0))
    # new voxels cover old [0,2) and [2,4): centres at old coordinates 0.5 and 2.5
    assert out.dtype == np.int16
    assert out.tolist() == [[[5, 25]]]
    assert spacing == (1.0, 1.0, 2.0)


def test_resample_reports_the_exact_spacing_when_the_target_does_not_divide_the_extent():
    out, spacing = resample(np.zeros((10, 4, 4), np.int16), (2.5, 1.0, 1.0), (3.0, 1.0, 1.0))
    assert out.shape == (8, 4, 4)  # round(25 / 3)
    assert spacing == pytest.approx((25 / 8, 1.0, 1.0))


def test_resample_to_none_keeps_the_native_volume():
    vol = np.ones((3, 4, 5), np.int16)
    out, spacing = resample(vol, (2.0, 0.5, 0.5), None)
    assert out is vol and spacing == (2.0, 0.5, 0.5)


def test_resampled_affine_moves_the_first_voxel_centre_by_half_the_growth():
    aff = np.diag([1.0, 1.0, 1.0, 1.0])
    new = resampled_affine(aff, (4, 1, 1), (2, 1, 1))
    assert new[0, 0] == 2.0 and new[0, 3] == 0.5


@pytest.mark.parametrize("name", ["anatomical.nii", "standard.nii.gz", "reoriented_anat_moved.nii"])
def test_reorientation_equals_nibabels_closest_canonical(name):
    img = nib.load(os.path.join(data_path, name))
    out, layout = reorient_to_ras(np.asanyarray(img.dataobj), img.affine)
    canonical = nib.as_closest_canonical(img)
    np.testing.assert_array_equal(out, np.asanyarray(canonical.dataobj).transpose(2, 1, 0))
    assert layout.spacing == pytest.approx(canonical.header.get_zooms()[::-1])
    np.testing.assert_allclose(layout.affine, canonical.affine)


def test_reorientation_handles_permuted_axes():
    # i -> superior-inferior flipped, j -> right, k -> posterior: every axis moves
    affine = np.array([[0, 2.0, 0, 0], [0, 0, -3.0, 0], [-1.5, 0, 0, 0], [0, 0, 0, 1]])
    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    out, layout = reorient_to_ras(data, affine)
    canonical = nib.as_closest_canonical(nib.Nifti1Image(data, affine))
    np.testing.assert_array_equal(out, np.asanyarray(canonical.dataobj).transpose(2, 1, 0))
    assert layout.spacing == (1.5, 3.0, 2.0)


def test_source_view_writes_straight_into_the_stored_array():
    img = nib.load(os.path.join(data_path, "anatomical.nii"))
    layout = ras_layout(img.shape, img.affine)
    out = np.zeros(layout.shape, np.int16)
    view = layout.source_view(out)
    assert np.shares_memory(view, out) and view.shape == img.shape
    view[0, 0, 0] = 7  # source voxel (0,0,0) is the left-most (L in LAS): x = X-1 once in RAS
    assert out[0, 0, -1] == 7


def test_slice_normal_is_the_cross_product_of_the_cosines():
    np.testing.assert_allclose(slice_normal(AXIAL), [0, 0, 1])
    np.testing.assert_allclose(slice_normal([0, 1, 0, 0, 0, -1]), [-1, 0, 0])  # sagittal


def test_series_geometry_sorts_by_position_along_the_normal_not_input_order():
    z = [10.0, 2.5, 5.0, 0.0, 7.5]
    geo = series_geometry([[0, 0, v] for v in z], [AXIAL] * 5, (0.5, 0.5))
    assert geo.order.tolist() == [3, 1, 2, 4, 0]
    assert geo.spacing == pytest.approx(2.5)


def test_series_geometry_uses_the_oblique_normal():
    c, s = np.cos(0.3), np.sin(0.3)
    iop = [1, 0, 0, 0, c, s]  # rows along x, columns tilted toward z
    normal = slice_normal(iop)
    positions = [list(k * 2.0 * normal) for k in (2, 0, 1)]
    geo = series_geometry(positions, [iop] * 3, (1.0, 1.0))
    assert geo.order.tolist() == [1, 2, 0]
    assert geo.spacing == pytest.approx(2.0)


def test_series_affine_maps_lps_positions_to_ras():
    geo = series_geometry([[-100, -50, 20], [-100, -50, 22.5]], [AXIAL] * 2, (0.7, 0.6))
    # voxel (col 1, row 2, slice 1) in LPS: (-100 + 0.6, -50 + 1.4, 22.5) -> RAS flips x and y
    np.testing.assert_allclose(geo.affine @ [1, 2, 1, 1], [99.4, 48.6, 22.5, 1])


def test_duplicate_slices_are_rejected():
    with pytest.raises(GeometryError, match="1 duplicate slice position"):
        series_geometry([[0, 0, v] for v in (0, 2, 2, 4)], [AXIAL] * 4, (1, 1))


def test_a_missing_slice_is_named_as_missing():
    with pytest.raises(GeometryError, match="1 missing slice"):
        series_geometry([[0, 0, v] for v in (0, 2, 4, 8, 10)], [AXIAL] * 5, (1, 1))


def test_uneven_spacing_beyond_the_tolerance_is_rejected_within_it_accepted():
    with pytest.raises(GeometryError, match="uneven slice spacing"):
        series_geometry([[0, 0, v] for v in (0, 2, 4, 6.5, 8.5)], [AXIAL] * 5, (1, 1))
    geo = series_geometry([[0, 0, v] for v in (0, 2, 4, 6.02, 8.02)], [AXIAL] * 5, (1, 1))
    assert geo.spacing == pytest.approx(2.005)


def test_mixed_orientations_and_tilted_stacks_are_rejected():
    with pytest.raises(GeometryError, match="different ImageOrientationPatient"):
        series_geometry([[0, 0, 0], [0, 0, 1]], [AXIAL, [0, 1, 0, 0, 0, -1]], (1, 1))
    with pytest.raises(GeometryError, match="drift"):
        series_geometry([[0, 0, 0], [0, 3, 1], [0, 6, 2]], [AXIAL] * 3, (1, 1))


def test_preview_is_three_windowed_planes_at_a_fixed_height():
    vol = np.full((20, 30, 40), -1000, np.int16)
    vol[10, 15, 20] = 1000
    img = volume_preview(vol, (2.0, 1.0, 1.0), "lung", height=60)
    assert img.dtype == np.uint8 and img.shape[0] == 60
    # axial 30x40 mm -> 80 cols; coronal 40 mm wide x 40 mm tall -> 60; sagittal 30 x 40 -> 45
    assert img.shape[1] == 80 + 60 + 45
    assert img.min() == 60 and img.max() > 60  # air: (-1000 + 1350) / 1500 * 255 = 59.5 -> 60


def test_preview_puts_superior_at_the_top_of_the_coronal_panel():
    vol = np.zeros((10, 10, 10), np.float32)
    vol[-1] = 1.0  # the most superior slice
    img = volume_preview(vol, (1, 1, 1), (0.5, 1.0), height=10)
    coronal = img[:, 10:20]
    assert coronal[0].min() == 255 and coronal[-1].max() == 0
