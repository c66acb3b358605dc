"""ECG and EEG task maps: SNOMED vocabularies, the PTB-XL superclass map and sleep stages."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from climb.corpora.ecg import SCP_STATEMENTS
from climb.schemas.task_defs.ecg import PTBXL_SCP_TO_SUPERCLASS, SNOMED_FIXED, SNOMED_KNOWN_UNMAPPED, SNOMED_TO_HARMONIZED
from climb.schemas.tasks import get_task


@pytest.mark.parametrize("vocabulary, size", [("ptbxl-challenge", 52), ("georgia", 123), ("cpsc", 9), ("chapman", 54)])
def test_each_vocabulary_covers_its_databases_whole_dictionary(vocabulary, size):
    """CLIMB's generate_labels.py dictionaries hold 52, 123, 9 and 54 codes."""
    assert len(SNOMED_TO_HARMONIZED[vocabulary]) + len(SNOMED_KNOWN_UNMAPPED[vocabulary]) == size


def test_only_names_in_no_class_list_stay_unmapped():
    assert SNOMED_KNOWN_UNMAPPED == {
        "ptbxl-challenge": ("233917008",),
        "georgia": ("54329005", "368009"),
        "cpsc": (),
        "chapman": ("251199005", "13640000", "67751000119106"),
    }


def test_georgia_capitalisation_mismatches_map_to_the_class_their_name_intends():
    assert len(SNOMED_FIXED["georgia"]) == 18
    task = get_task("ecg_harmonized")
    cases = {"164889003": "afib", "164890007": "afib", "195080001": "afib", "426627000": "normal",
             "233917008": "cd", "251170000": "other", "57054005": "mi", "195126007": "hyp"}
    for code, cls in cases.items():
        value, unmapped = task.map_codes("georgia", [code])
        assert unmapped == [] and value[task.class_index(cls)] == 1 and sum(value) == 1, code


def test_the_same_code_can_mean_different_classes_in_different_databases():
    task = get_task("ecg_harmonized")
    low_qrs = "251146004"  # 'low qrs voltages' (other) in Georgia, 'PRWP' (cd) in Chapman
    assert task.map_codes("georgia", [low_qrs])[0] == [0, 0, 0, 0, 1, 0, 0]
    assert task.map_codes("chapman", [low_qrs])[0] == [0, 1, 0, 0, 0, 0, 0]


def test_superclass_map_is_scp_statements_diagnostic_class():
    table = pd.read_csv(io.StringIO(SCP_STATEMENTS), header=None, index_col=0)
    diagnostic = table[table[2] == 1.0]
    assert {code: cls for code, cls in diagnostic[5].items()} == PTBXL_SCP_TO_SUPERCLASS
    assert len(PTBXL_SCP_TO_SUPERCLASS) == 44


@pytest.mark.parametrize(
    "vocabulary, raw, stage",
    [("sleep-edf", "Sleep stage W", 0), ("sleep-edf", "Sleep stage 3", 3), ("sleep-edf", "Sleep stage 4", 3),
     ("sleep-edf", "sleep stage r", 4), ("sleep-edf", "Sleep stage ?", None), ("sleep-edf", "Movement time", None),
     ("isruc", "5", 4), ("isruc", "4", None), ("shhs", "4", 3), ("shhs", "9", None)],
)
def test_sleep_stage_maps_merge_s3_and_s4_and_mask_unscored_epochs(vocabulary, raw, stage):
    assert get_task("sleep_stage").map_codes(vocabulary, [raw])[0] == stage
