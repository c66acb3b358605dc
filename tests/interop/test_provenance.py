"""Every shipped source names its terms: a licence only where it is the source's published one."""

from __future__ import annotations

import pytest

from climb.pipelines.sources import is_builtin, source_names
from climb.pipelines.sources.provenance import PHYSIONET_CREDENTIALED, PROVENANCE, SEE_SOURCE, USER_DATA, provenance

SHIPPED = [name for name in source_names() if is_builtin(name)]

# the sources whose published licence climb names; every other one reads "see source"
NAMED = {
    "mimic-iv": PHYSIONET_CREDENTIALED, "mimic-cxr": PHYSIONET_CREDENTIALED, "vindr-cxr": PHYSIONET_CREDENTIALED,
    "vindr-mammo": PHYSIONET_CREDENTIALED, "ptbxl": "CC-BY-4.0", "challenge-ecg": "CC-BY-4.0", "chapman": "CC-BY-4.0",
    "sleep-edf": "ODC-By-1.0",
}


def test_every_shipped_source_has_an_entry():
    assert sorted(PROVENANCE) == SHIPPED


@pytest.mark.parametrize("source", SHIPPED)
def test_a_licence_is_named_only_where_it_is_the_sources_published_one(source):
    entry = provenance(source)
    assert entry.license == NAMED.get(source, SEE_SOURCE)
    assert (entry.hf_license == "other") == (entry.license in (SEE_SOURCE, PHYSIONET_CREDENTIALED))


@pytest.mark.parametrize("source", sorted(set(SHIPPED) - {"dicom", "nifti", "video", "covid19-cxr"}))
def test_every_published_source_points_at_its_home_page_and_terms(source):
    entry = provenance(source)
    assert entry.url.startswith(("https://", "http://"))
    assert entry.license_url.startswith(("https://", "http://"))  # the licence's text, or the page with the terms


def test_credentialed_data_links_physionets_licence():
    for source in ("mimic-iv", "mimic-cxr", "vindr-cxr", "vindr-mammo"):
        assert provenance(source).url.startswith("https://physionet.org/content/")
        assert provenance(source).license_url.endswith("physionet-credentialed-health-data-license-150/")


def test_folders_of_the_users_own_files_and_plug_ins_carry_no_terms_of_climbs():
    assert provenance("dicom") == provenance("a-plug-in") == USER_DATA
    assert (USER_DATA.license, USER_DATA.url, USER_DATA.citation) == (SEE_SOURCE, "", SEE_SOURCE)
