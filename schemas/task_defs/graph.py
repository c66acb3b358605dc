"""Graph tasks: brain connectomes, molecules, proteins (PROTEINS) and protein-association graphs (ogbg-ppa)."""

from climb.schemas.tasks import Task

PPA_TAXA = tuple(f"taxon_{i}" for i in range(37))  # OGB publishes the groups as integers only

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
    Task(
        name="protein_enzyme",
        type="binary",
        classes=("non_enzyme", "enzyme"),
        description="PROTEINS: is the protein an enzyme (TU graph label 1) or not (2), after Dobson & Doig.",
        source_maps={"proteins": {"1": "enzyme", "2": "non_enzyme"}},
    ),
    Task(
        name="ppa_taxon",
        type="multiclass",
        classes=PPA_TAXA,
        description="ogbg-ppa: the taxonomic group (one of 37, OGB's integer class) of the species a protein-association graph comes from.",
        source_maps={"ogbg-ppa": {str(i): name for i, name in enumerate(PPA_TAXA)}},
    ),
)
