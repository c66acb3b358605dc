"""ECG tasks: PTB-XL diagnostic superclasses and CLIMB's 7-class harmonized label space.

The harmonized task is multilabel (a record with AF and LBBB is both afib and cd); CLIMB's
reference code picked one positive at random, which made the label depend on a seed.
"""

from climb.schemas.tasks import Task

HARMONIZED = ("normal", "cd", "mi", "sttc", "other", "afib", "hyp")

# PTB-XL SCP acronym -> harmonized class (datasets.md, section 1). "AXR\t" in the reference code
# could never match; matching here is on trimmed, case-folded codes so AXR maps.
_SCP_LISTS = {
    "normal": "NORM SR SARRH SBRAD STACH",
    "cd": "AVB 1AVB 2AVB 3AVB CD CLBBB CRBBB ILBBB IRBBB IVCB IVCD LAFB LAFB/LPFB LPFB LPR PSVT SVARR SVTAC WPW",
    "mi": "AMI ALMI ASMI ILMI IMI INJAL INJAS INJIL INJLA INVT IPLMI IPMI LMI MI PMI",
    "sttc": "ANEUR DIG EL ISC_ ISCA ISCAL ISCAN ISCAS ISCI ISCIL ISCIN ISCLA LNGQT NDT NST_ NT_ STD_ STE_ STTC TAB_",
    "afib": "AFIB AFLT",
    "hyp": "HYP ALAD LAD LAO/LAE LVH RAD RHV RVH RAO/RAE SEHYP VCLVH",
    "other": "ABQRS ARAD AXL AXR BIGU HVOLT LOWT LVOLT PACE PAC PRC(S) PVC QWAVE SAG TRIGU",
}
PTBXL_SCP_TO_HARMONIZED = {code: cls for cls, codes in _SCP_LISTS.items() for code in codes.split()}

TASKS = (
    Task(
        name="ecg_harmonized",
        type="multilabel",
        classes=HARMONIZED,
        description="CLIMB's 7 harmonized ECG classes, multi-hot; records with no mapped code are masked.",
        source_maps={"ptbxl": PTBXL_SCP_TO_HARMONIZED},
    ),
    Task(
        name="ecg_superclass",
        type="multilabel",
        classes=("NORM", "MI", "STTC", "CD", "HYP"),
        description="PTB-XL diagnostic superclasses from scp_statements.csv diagnostic_class.",
    ),
)
