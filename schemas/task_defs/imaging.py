"""Imaging and video tasks: chest X-ray findings, dermatology, fundus, mammography, CT, echo."""

from climb.schemas.tasks import Task

CHEXPERT_FINDINGS = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
    "Fracture", "Support Devices",
)

# CheXpert and MIMIC-CXR-JPG label sheets name their columns exactly like the classes; sources find
# columns by name through these maps, never by position (CLIMB's reorder array lost No Finding).
_CHEXPERT_COLUMNS = {name: name for name in CHEXPERT_FINDINGS}

# VinDr-CXR image_labels_{train,test}.csv: 22 local findings then 6 global labels, in file order.
VINDR_LOCAL = (
    "Aortic enlargement", "Atelectasis", "Calcification", "Cardiomegaly", "Clavicle fracture", "Consolidation",
    "Edema", "Emphysema", "Enlarged PA", "ILD", "Infiltration", "Lung Opacity", "Lung cavity", "Lung cyst",
    "Mediastinal shift", "Nodule/Mass", "Pleural effusion", "Pleural thickening", "Pneumothorax",
    "Pulmonary fibrosis", "Rib fracture", "Other lesion",
)
VINDR_GLOBAL = ("COPD", "Lung tumor", "Pneumonia", "Tuberculosis", "Other diseases", "No finding")
# The train sheet says "Other diseases", the test sheet "Other disease".
_VINDR_GLOBAL_COLUMNS = {**{name: name for name in VINDR_GLOBAL}, "Other disease": "Other diseases"}

# VinDr column -> CheXpert finding (datasets.md section 3); VinDr columns without a CheXpert
# counterpart (calcification, emphysema, ILD, fibrosis, COPD, tuberculosis, other diseases) map nowhere,
# and Support Devices has no VinDr column, so it stays masked.
VINDR_TO_CHEXPERT = {
    "Aortic enlargement": "Enlarged Cardiomediastinum", "Enlarged PA": "Enlarged Cardiomediastinum",
    "Mediastinal shift": "Enlarged Cardiomediastinum", "Nodule/Mass": "Lung Lesion", "Lung cavity": "Lung Lesion",
    "Lung cyst": "Lung Lesion", "Other lesion": "Lung Lesion", "Lung tumor": "Lung Lesion",
    "Infiltration": "Lung Opacity", "Lung Opacity": "Lung Opacity", "Pleural thickening": "Pleural Other",
    "Clavicle fracture": "Fracture", "Rib fracture": "Fracture", "Atelectasis": "Atelectasis",
    "Cardiomegaly": "Cardiomegaly", "Consolidation": "Consolidation", "Edema": "Edema",
    "Pleural effusion": "Pleural Effusion", "Pneumothorax": "Pneumothorax", "Pneumonia": "Pneumonia",
    "No finding": "No Finding",
}

# HAM10000 `dx` codes -> CLIMB's 5 skin lesion classes (OTHER = benign keratosis, dermatofibroma, vascular).
HAM10000_DX = {"mel": "MEL", "nv": "NV", "bcc": "BCC", "akiec": "AKIEC", "bkl": "OTHER", "df": "OTHER", "vasc": "OTHER"}

ICDR_GRADES = ("No DR", "Mild NPDR", "Moderate NPDR", "Severe NPDR", "Proliferative DR")

# CBIS-DDSM `pathology`; BENIGN_WITHOUT_CALLBACK is benign (no follow-up was even needed).
CBIS_PATHOLOGY = {"BENIGN": "benign", "BENIGN_WITHOUT_CALLBACK": "benign", "MALIGNANT": "malignant"}
# CBIS-DDSM `assessment` (BI-RADS); 0 (incomplete, needs more imaging) is no category and stays masked.
BIRADS = ("BI-RADS 1", "BI-RADS 2", "BI-RADS 3", "BI-RADS 4", "BI-RADS 5")
CBIS_BIRADS = {str(k): f"BI-RADS {k}" for k in range(1, 6)}

# Ejection fraction bins (%, lower bounds): reduced < 40 <= mildly reduced < 50 <= normal.
LVEF_CATEGORIES = ("reduced", "mildly reduced", "normal")
LVEF_BOUNDS = (40.0, 50.0)

TASKS = (
    Task(
        name="cxr_findings",
        type="multilabel",
        classes=CHEXPERT_FINDINGS,
        description="The 14 CheXpert findings; uncertain (-1) and blank are masked by default.",
        source_maps={"chexpert": _CHEXPERT_COLUMNS, "mimic-cxr": _CHEXPERT_COLUMNS, "vindr-cxr": VINDR_TO_CHEXPERT},
    ),
    Task(
        name="vindr_cxr_local",
        type="multilabel",
        classes=VINDR_LOCAL,
        description="VinDr-CXR's 22 local findings, image level, by majority of the image's readers.",
        source_maps={"vindr-cxr": {name: name for name in VINDR_LOCAL}},
    ),
    Task(
        name="vindr_cxr_global",
        type="multilabel",
        classes=VINDR_GLOBAL,
        description="VinDr-CXR's 6 global labels (diseases and No finding), by majority of the image's readers.",
        source_maps={"vindr-cxr": _VINDR_GLOBAL_COLUMNS},
        zero_shot={"Pneumonia": "cxr_findings/Pneumonia", "No finding": "cxr_findings/No Finding"},
    ),
    Task(
        name="skin_lesion",
        type="multiclass",
        classes=("MEL", "NV", "BCC", "AKIEC", "OTHER"),
        description="Dermoscopic diagnosis in CLIMB's 5 classes; OTHER = benign keratosis, dermatofibroma, vascular.",
        source_maps={"ham10000": HAM10000_DX},
    ),
    Task(
        name="dr_grade",
        type="multiclass",
        classes=ICDR_GRADES,
        description="Diabetic retinopathy severity on the ICDR scale 0-4.",
        source_maps={"aptos": {str(grade): name for grade, name in enumerate(ICDR_GRADES)}},
    ),
    Task(
        name="breast_pathology",
        type="binary",
        classes=("benign", "malignant"),
        description="Biopsy-proven pathology of a mammogram's abnormalities: malignant if any is malignant.",
        source_maps={"cbis-ddsm": CBIS_PATHOLOGY, "cmmd": {"Benign": "benign", "Malignant": "malignant"}},
    ),
    Task(
        name="breast_birads",
        type="multiclass",
        classes=BIRADS,
        description="BI-RADS assessment 1-5 of a mammogram (highest over its abnormalities); 0 is masked.",
        source_maps={"cbis-ddsm": CBIS_BIRADS, "vindr-mammo": {f"BI-RADS {k}": f"BI-RADS {k}" for k in range(1, 6)}},
    ),
    Task(
        name="kidney_tumor_malignancy",
        type="binary",
        classes=("benign", "malignant"),
        description="KiTS23 case-level pathology of the kidney tumour (`malignant` in kits23.json); null is masked.",
        source_maps={"kits": {"false": "benign", "true": "malignant"}},
    ),
    Task(
        name="lung_nodule_size",
        type="multilabel",
        classes=("nodule <=3mm", "nodule >3mm"),
        description="CT scan holds a nodule of equivalent diameter <=3 mm / >3 mm (LNDb ground-truth findings, Nodule=1).",
    ),
    Task(
        name="pe_study",
        type="multiclass",
        classes=("negative", "acute", "chronic", "acute and chronic"),
        description="RSPECT study-level pulmonary embolism: negative exam, else its chronicity; indeterminate is masked.",
    ),
    Task(
        name="pe_location",
        type="multilabel",
        classes=("left", "right", "central"),
        description="RSPECT study-level PE location (all 0 for a negative exam); indeterminate is masked.",
    ),
    Task(
        name="lvef",
        type="regression",
        units="%",
        description="Left-ventricular ejection fraction from an apical-4-chamber echo (EchoNet-Dynamic EF).",
    ),
    Task(
        name="lvef_category",
        type="multiclass",
        classes=LVEF_CATEGORIES,
        description="Ejection fraction binned as heart-failure guidelines do: <40 reduced, 40-49 mildly reduced, >=50 normal.",
    ),
    Task(
        name="lv_edv",
        type="regression",
        units="mL",
        description="Left-ventricular end-diastolic volume (EchoNet-Dynamic EDV).",
    ),
    Task(
        name="lv_esv",
        type="regression",
        units="mL",
        description="Left-ventricular end-systolic volume (EchoNet-Dynamic ESV).",
    ),
    Task(
        name="lung_us_finding",
        type="multiclass",
        classes=("covid", "pneumonia", "normal"),
        description="Lung ultrasound clip finding, COVID-US's three classes.",
    ),
)
