"""Chapman-Shaoxing 12-lead ECGs (Challenge 2020 WFDB_ChapmanShaoxing / 2021 chapman_shaoxing folder).

The Challenge-layout reader of challenge_ecg.py with the Chapman SNOMED dictionary fixed, whatever
the folder is called. 10-s records at 500 Hz, about one ECG per patient, so each record is its own
subject and the pipeline assigns subject-grouped hash splits.
"""

from climb.pipelines.sources.challenge_ecg import source_info

SOURCE = source_info(
    "chapman",
    "Chapman-Shaoxing 12-lead ECG (Challenge .mat + .hea), SNOMED-CT -> CLIMB's 7 harmonized classes",
    "chapman",
)
