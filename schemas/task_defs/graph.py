"""Graph tasks: brain connectomes and molecules."""

from climb.schemas.tasks import Task

TASKS = (
    Task(
        name="connectome_diagnosis",
        type="binary",
        classes=("control", "patient"),
        description="Diagnosis of the scanned subject from the phenotype sheet (ABIDE DX_GROUP: 1 autism, 2 control).",
        source_maps={"connectome": {"1": "patient", "2": "control"}, "braingb-abide": {"1": "patient", "0": "control"}},
    ),
    Task(
        name="molecule_hiv_active",
        type="binary",
        classes=("inactive", "active"),
        description="ogbg-molhiv style HIV replication inhibition (HIV_active column).",
        source_maps={"molecules": {"0": "inactive", "1": "active"}},
    ),
)
