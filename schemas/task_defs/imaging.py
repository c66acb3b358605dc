"""Imaging and video tasks: chest X-ray findings, dermatology, fundus, mammography, CT, echo."""

from climb.schemas.tasks import Task

CHEXPERT_FINDINGS = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
    "Fracture", "Support Devices",
)

TASKS = (
    Task(
        name="cxr_findings",
        type="multilabel",
        classes=CHEXPERT_FINDINGS,
        description="The 14 CheXpert findings; uncertain (-1) and blank are masked by default.",
    ),
)
