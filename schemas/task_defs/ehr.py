"""Multimodal EHR tasks (MIMIC-IV style admissions).

ICD diagnoses are labelled by ICD-10 chapter. MIMIC-IV mixes ICD-9-CM and ICD-10-CM codes (column
`icd_version`); `icd_chapter` places both in the ICD-10 chapters, ICD-9 through the chapter-level
crosswalk below (eye 360-379 and ear 380-389 leave ICD-9's nervous-system chapter for ICD-10's own
chapters, immunity disorders 279 join blood diseases, V codes are health-status factors and E codes
external causes). The CLIMB reference code put both versions in one code space, so "4280" (ICD-9
heart failure) and "I50" never met; here they land in the same class.
"""

from __future__ import annotations

from climb.schemas.tasks import Task

ICD_CHAPTERS = {
    "I": "infectious", "II": "neoplasms", "III": "blood_immune", "IV": "endocrine_metabolic", "V": "mental",
    "VI": "nervous", "VII": "eye", "VIII": "ear", "IX": "circulatory", "X": "respiratory", "XI": "digestive",
    "XII": "skin", "XIII": "musculoskeletal", "XIV": "genitourinary", "XV": "pregnancy", "XVI": "perinatal",
    "XVII": "congenital", "XVIII": "symptoms", "XIX": "injury_poisoning", "XX": "external_causes",
    "XXI": "health_factors", "XXII": "special_purposes",
}

# ICD-10 first letter -> chapter; D and H are split by number below.
_ICD10_LETTER = {
    "A": "I", "B": "I", "C": "II", "E": "IV", "F": "V", "G": "VI", "I": "IX", "J": "X", "K": "XI", "L": "XII",
    "M": "XIII", "N": "XIV", "O": "XV", "P": "XVI", "Q": "XVII", "R": "XVIII", "S": "XIX", "T": "XIX",
    "V": "XX", "W": "XX", "X": "XX", "Y": "XX", "Z": "XXI", "U": "XXII",
}

# ICD-9 numeric codes: (first 3 digits upper bound, chapter), in increasing order.
_ICD9_RANGES = (
    (139, "I"), (239, "II"), (278, "IV"), (279, "III"), (289, "III"), (319, "V"), (359, "VI"), (379, "VII"),
    (389, "VIII"), (459, "IX"), (519, "X"), (579, "XI"), (629, "XIV"), (679, "XV"), (709, "XII"), (739, "XIII"),
    (759, "XVII"), (779, "XVI"), (799, "XVIII"), (999, "XIX"),
)


def icd_chapter(code: str, version: int | str) -> str | None:
    """The ICD-10 chapter (Roman numeral) of an ICD-9-CM or ICD-10-CM code, None if malformed.

    Codes may carry a dot ("428.0") or not ("4280", MIMIC's form).
    """
    c = str(code).strip().upper().replace(".", "")
    v = str(version).strip()
    if len(c) < 3:
        return None
    if v == "10":
        if not (c[0].isalpha() and c[1:3].isdigit()):
            return None
        number = int(c[1:3])
        if c[0] == "D":
            return "II" if number <= 49 else "III"
        if c[0] == "H":
            return "VII" if number <= 59 else "VIII"
        return _ICD10_LETTER.get(c[0])
    if v == "9":
        if c[0] == "V":
            return "XXI" if c[1:3].isdigit() else None
        if c[0] == "E":
            return "XX" if c[1:4].isdigit() else None
        if not c[:3].isdigit():
            return None
        number = int(c[:3])
        return next(chapter for upper, chapter in _ICD9_RANGES if number <= upper)
    return None


TASKS = (
    Task(
        name="in_hospital_mortality",
        type="binary",
        classes=("survived", "died"),
        description="Death during the admission (1 = died); never inverted.",
        source_maps={"mimic-iv": {"0": "survived", "1": "died"}},
    ),
    Task(
        name="length_of_stay",
        type="regression",
        description="Admission to discharge, in days.",
        units="days",
    ),
    Task(
        name="icd_chapter",
        type="multilabel",
        classes=tuple(ICD_CHAPTERS.values()),
        description="ICD-10 chapters of the admission's diagnoses (ICD-9 crosswalked by chapter); masked if none.",
        source_maps={"mimic-iv": ICD_CHAPTERS},
    ),
)
