"""Tasks of the dedicated sources whose layout needs code (issue 21): TUEV events, breast density and
cancer subtype,
INSPECT pulmonary embolism, BrainGB cohorts (ABCD sex, PPMI Parkinson's), Cholec80 phases and tools.

Sources that share a finding with an existing task map into it instead (ISRUC and SHHS into
sleep_stage in eeg.py; VinDr-Mammo into breast_birads and CMMD into breast_pathology in
imaging.py; BrainGB's ABIDE into connectome_diagnosis in graph.py).
"""

from climb.schemas.tasks import Task

# TUEV .rec label codes 1-6, in code order.
EEG_EVENTS = ("SPSW", "GPED", "PLED", "EYEM", "ARTF", "BCKG")

# VinDr-Mammo `breast_density` values are "DENSITY A" ... "DENSITY D" (ACR BI-RADS density categories).
BREAST_DENSITY = ("A", "B", "C", "D")

# CMMD `subtype` of malignant breasts (blank for benign ones, which are masked).
BREAST_CANCER_SUBTYPES = ("Luminal A", "Luminal B", "HER2-enriched", "triple negative")

# INSPECT, CLIMB's five classes from Final_Impressions_labels.csv (pe_positive, pe_acute,
# pe_subsegmentalonly): negative; acute and subsegmental-only; acute; subsegmental-only (not acute);
# chronic = positive, neither acute nor subsegmental-only.
CTPA_PE = ("negative", "acute subsegmental-only", "acute", "subsegmental-only", "chronic")

# Cholec80 phase annotation names, in the order of the EndoNet paper.
CHOLEC80_PHASES = ("Preparation", "CalotTriangleDissection", "ClippingCutting", "GallbladderDissection",
                   "GallbladderPackaging", "CleaningCoagulation", "GallbladderRetraction")
# Cholec80 tool annotation columns, in file order.
CHOLEC80_TOOLS = ("Grasper", "Bipolar", "Hook", "Scissors", "Clipper", "Irrigator", "SpecimenBag")

TASKS = (
    Task(
        name="eeg_event",
        type="multiclass",
        classes=EEG_EVENTS,
        description="TUEV event class of a window: spike/sharp wave, generalized or lateralized periodic discharge, "
                    "eye movement, artifact, background.",
        source_maps={"tuev": {str(code): name for code, name in enumerate(EEG_EVENTS, start=1)}},
    ),
    Task(
        name="breast_density",
        type="multiclass",
        classes=BREAST_DENSITY,
        description="ACR BI-RADS breast density category A-D of a breast (VinDr-Mammo breast_density).",
        source_maps={"vindr-mammo": {f"DENSITY {c}": c for c in BREAST_DENSITY}},
    ),
    Task(
        name="breast_cancer_subtype",
        type="multiclass",
        classes=BREAST_CANCER_SUBTYPES,
        description="Molecular subtype of a malignant breast lesion (CMMD subtype); benign breasts are masked.",
        source_maps={"cmmd": {name: name for name in BREAST_CANCER_SUBTYPES}},
    ),
    Task(
        name="ctpa_pe",
        type="multiclass",
        classes=CTPA_PE,
        description="INSPECT CTPA pulmonary embolism from the report impression, in CLIMB's five classes.",
        zero_shot={"negative": "pe_study/negative"},
    ),
    Task(
        name="sex",
        type="binary",
        classes=("male", "female"),
        description="Sex of the scanned subject (ABCD id2sex.txt: M, F).",
        source_maps={"braingb-abcd": {"M": "male", "F": "female"}},
    ),
    Task(
        name="parkinsons",
        type="binary",
        classes=("control", "parkinson's disease"),
        description="PPMI cohort of the scanned subject: Parkinson's disease (1) or healthy control (-1).",
        source_maps={"braingb-ppmi": {"-1": "control", "1": "parkinson's disease"}},
    ),
    Task(
        name="surgical_phase",
        type="multiclass",
        classes=CHOLEC80_PHASES,
        description="Cholec80 surgical phase of a frame of a laparoscopic cholecystectomy.",
        source_maps={"cholec80": {name: name for name in CHOLEC80_PHASES}},
    ),
    Task(
        name="surgical_tools",
        type="multilabel",
        classes=CHOLEC80_TOOLS,
        description="Cholec80 tools visible in a frame (tool annotations at 1 fps).",
    ),
)
