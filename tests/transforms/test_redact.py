"""Messages lose raw paths and the raw tree's names, and keep what the decoder said."""

from __future__ import annotations

from climb.transforms.redact import raw_names, redact

NAMES = raw_names(["SURNAME^GIVEN_MRN12345/MRN12345_chest.dcm", "data/LNDb-0003.mhd"], ["MRN12345"])


def test_paths_and_urls_become_a_placeholder():
    message = "[Errno 2] No such file: '/tmp/raw/x/y.dcm' or s3://bucket/raw/y.dcm"
    assert redact(message, ()) == "[Errno 2] No such file: '<path>' or <path>"


def test_units_and_ratios_with_a_slash_are_kept():
    assert redact("gain 10 mm/mV, fraction 3/4", ()) == "gain 10 mm/mV, fraction 3/4"


def test_folder_file_and_id_names_are_removed_whatever_their_case():
    message = "cannot read MRN12345_chest.dcm of surname^given_mrn12345 (id mrn12345, folder SURNAME)"
    assert redact(message, NAMES) == "cannot read <name> of <name> (id <name>, folder <name>)"


def test_plain_lowercase_layout_words_and_digits_inside_numbers_are_kept():
    assert redact("data block is short: 30003 bytes in LNDb-0003.mhd", NAMES) == "data block is short: 30003 bytes in <name>"


def test_names_are_longest_first_and_only_telling_ones():
    assert NAMES[0] == "SURNAME^GIVEN_MRN12345/MRN12345_chest.dcm"
    assert "data" not in NAMES and "chest" not in NAMES and {"MRN12345", "SURNAME", "GIVEN", "LNDb"} <= set(NAMES)


def test_the_dataset_name_is_public_and_kept():
    names = raw_names(["PPMI.npy"], ["PPMI.npy#2"], public="braingb-ppmi")
    assert redact("PPMI matrix 2 has shape [16, 16]", names) == "PPMI matrix 2 has shape [16, 16]"
    assert redact("cannot read PPMI.npy#2", names) == "cannot read <name>"
