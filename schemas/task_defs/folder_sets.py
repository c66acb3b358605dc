"""Tasks first labelled by the spec sources (pipelines/sources/specs/*.yaml): the CLIMB datasets that
are a folder of files plus a label sheet. Each spec maps its raw values onto these classes in its own
`map`; the lists here are the shared label spaces, so two datasets of one finding train one head.
"""

from climb.schemas.tasks import Task

NIH_FINDINGS = (
    "No Finding", "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)
ICH_SUBTYPES = ("intraventricular", "intraparenchymal", "subarachnoid", "epidural", "subdural")
LC25000_CLASSES = ("lung adenocarcinoma", "lung benign", "lung squamous cell carcinoma", "colon adenocarcinoma", "colon benign")

TASKS = (
    Task(
        name="cxr_pneumonia",
        type="multiclass",
        classes=("normal", "bacterial pneumonia", "viral pneumonia", "COVID-19"),
        description="Chest X-ray: normal, bacterial or viral pneumonia, or COVID-19 (COVID-19 Radiography, CoronaHack).",
        zero_shot={"normal": "nih_cxr_findings/No Finding"},
    ),
    Task(
        name="brixia_score",
        type="regression",
        units="points (0-18)",
        description="Brixia global score of COVID-19 lung involvement on a chest X-ray: 6 zones scored 0-3, summed.",
    ),
    Task(
        name="nih_cxr_findings",
        type="multilabel",
        classes=NIH_FINDINGS,
        description="ChestX-ray14 `Finding Labels`: No Finding or any of 14 findings, matched exactly (not by substring).",
        zero_shot={"Pneumonia": "cxr_findings/Pneumonia", "Cardiomegaly": "cxr_findings/Cardiomegaly",
                   "Atelectasis": "cxr_findings/Atelectasis", "Pneumothorax": "cxr_findings/Pneumothorax"},
    ),
    Task(
        name="skin_malignancy",
        type="binary",
        classes=("benign", "malignant"),
        description="Skin lesion benign or malignant (ISIC 2020 `target`).",
    ),
    Task(
        name="dr_davis",
        type="multiclass",
        classes=("NDR", "SDR", "PPDR", "PDR"),
        description="Diabetic retinopathy on the Davis scale: none, simple, pre-proliferative, proliferative (Jichi).",
    ),
    Task(
        name="dme",
        type="binary",
        classes=("absent", "present"),
        description="Referable diabetic macular edema in a fundus photograph (Messidor-2 adjudicated_dme).",
    ),
    Task(
        name="breast_us_finding",
        type="multiclass",
        classes=("normal", "benign", "malignant"),
        description="Breast ultrasound image: no lesion, benign or malignant lesion (BUSI).",
    ),
    Task(
        name="covid_test",
        type="binary",
        classes=("negative", "positive"),
        description="The patient's SARS-CoV-2 test result, for a lung ultrasound clip (COVID-BLUES `cov_test`).",
    ),
    Task(
        name="intracranial_hemorrhage",
        type="binary",
        classes=("absent", "present"),
        description="Head CT slice shows intracranial hemorrhage of any subtype (CT-ICH `No_Hemorrhage` = 0).",
    ),
    Task(
        name="ich_subtypes",
        type="multilabel",
        classes=ICH_SUBTYPES,
        description="Intracranial hemorrhage subtypes visible on a head CT slice (CT-ICH).",
    ),
    Task(
        name="skull_fracture",
        type="binary",
        classes=("absent", "present"),
        description="Head CT slice shows a skull fracture (CT-ICH `Fracture_Yes_No`).",
    ),
    Task(
        name="brain_tumor_type",
        type="multiclass",
        classes=("glioma", "meningioma", "pituitary", "no tumor"),
        description="Brain MRI slice: glioma, meningioma, pituitary tumor or no tumor (Brain Tumor MRI).",
        zero_shot={"no tumor": "brain_tumor_present/absent"},
    ),
    Task(
        name="brain_tumor_present",
        type="binary",
        classes=("absent", "present"),
        description="Brain MRI slice shows a tumor (Brain MRI yes/no; Brain Tumor MRI any tumor class).",
    ),
    Task(
        name="histology_lung_colon",
        type="multiclass",
        classes=LC25000_CLASSES,
        description="H&E histology tile of lung or colon tissue, LC25000's five classes.",
    ),
)
