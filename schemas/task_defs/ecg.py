"""ECG tasks: PTB-XL diagnostic superclasses and CLIMB's 7-class harmonized label space.

The harmonized task is multilabel (a record with AF and LBBB is both afib and cd); CLIMB's
reference code picked one positive at random, which made the label depend on a seed.

Label vocabularies (the keys of each task's `source_maps`):
    ptbxl            PTB-XL SCP-ECG statement codes (scp_codes keys of ptbxl_database.csv)
    ptbxl-challenge  SNOMED-CT codes of the PhysioNet Challenge copy of PTB-XL (WFDB_PTBXL, #Dx:)
    georgia          SNOMED-CT codes of the Georgia 12-lead database (WFDB_Ga)
    cpsc             SNOMED-CT codes of CPSC 2018 (WFDB_CPSC2018)
    chapman          SNOMED-CT codes of Chapman-Shaoxing (WFDB_ChapmanShaoxing)

The SNOMED maps reproduce CLIMB's generate_labels.py (code -> dataset name -> 7 name lists, see
datasets.md section 1) with its mistakes fixed (datasets.md section 9), each fix marked "*" below:
    - Georgia: 18 codes whose dictionary name differs from a list entry only in capitalisation
      (e.g. 'atrial fibrillation' vs the list's 'Atrial fibrillation', 'blocked premature atrial
      contraction\\xa0' with a trailing no-break space) matched nothing; they map to the class of
      that list entry. This restores Georgia's afib class (0 positives in the reference CSV).
    - Chapman: 59118001 is 'nonspecific BBB' in the dictionary and 'Nonspecific BBB' in the cd
      list; it maps to cd.
    - CPSC: LBBB (164909002) was in no list; it maps to cd as in every other source. AF
      (164889003) was in both the cd and afib lists; it maps to afib only, as in every other source.
Codes that are in a dictionary but whose name is in no list at all stay unmapped ("-"): Georgia's
anterior MI and heart valve disorder, PTB-XL-Challenge's generic AV block ('_AVB'), Chapman's
counterclockwise rotation, RAHV and VFW. Unmapped codes are kept in sample metadata and a record
with no mapped code is masked, never assigned a class.
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

# The 44 diagnostic statements of PTB-XL's scp_statements.csv (rows with diagnostic == 1) and their
# diagnostic_class. Form and rhythm statements have no class and are unmapped for this task.
_SCP_SUPERCLASS = {
    "NORM": "NORM",
    "MI": "IMI ASMI ILMI AMI ALMI INJAS LMI INJAL IPLMI IPMI INJIN INJLA PMI INJIL",
    "STTC": "NDT NST_ DIG LNGQT ISC_ ISCAL ISCIN ISCIL ISCAS ISCLA ANEUR EL ISCAN",
    "CD": "LAFB IRBBB 1AVB IVCD CRBBB CLBBB LPFB WPW ILBBB 3AVB 2AVB",
    "HYP": "LVH LAO/LAE RVH RAO/RAE SEHYP",
}
PTBXL_SCP_TO_SUPERCLASS = {code: cls for cls, codes in _SCP_SUPERCLASS.items() for code in codes.split()}

SNOMED_VOCABULARIES = ("ptbxl-challenge", "georgia", "cpsc", "chapman")

# SNOMED-CT code, then the class in PTB-XL-Challenge, Georgia, CPSC, Chapman; "." = not in that
# dataset's dictionary, "-" = in the dictionary but in no class list (unmapped), "*" = fixed (see above).
_SNOMED_TABLE = """
270492004       cd      cd      cd      cd      1st-degree AV block
195042002       cd      cd      .       cd      2nd-degree AV block
164951009       other   other*  .       .       abnormal QRS
61277005        .       cd      .       .       accelerated idioventricular rhythm
426664006       .       cd      .       .       accelerated junctional rhythm
57054005        .       mi*     .       .       acute MI
413444003       .       mi*     .       .       acute myocardial ischemia
426434006       sttc    mi*     .       .       anterior ischemia
54329005        mi      -       .       .       anterior MI
251173003       .       other*  .       other   atrial bigeminy
164889003       afib    afib*   afib*   afib    atrial fibrillation
195080001       .       afib*   .       .       atrial fibrillation and flutter
164890007       afib    afib*   .       afib    atrial flutter
195126007       .       hyp*    .       .       atrial hypertrophy
251268003       .       cd*     .       .       atrial pacing pattern
713422000       .       cd*     .       cd      atrial tachycardia
233917008       -       cd*     .       cd      AV block
251166008       .       .       .       cd      AVNRT
6374002         .       cd*     .       .       bundle branch block
251170000       .       other*  .       .       blocked premature atrial contraction
74615001        .       cd*     .       .       brady tachy syndrome
426627000       .       normal* .       .       bradycardia
418818005       .       other*  .       .       brugada syndrome
698247007       .       cd*     .       .       cardiac dysrhythmia
426749004       .       afib    .       .       chronic atrial fibrillation
413844008       .       mi      .       .       chronic myocardial ischemia
78069008        .       other   .       .       chronic rheumatic pericarditis
27885002        cd      cd      .       cd      complete heart block
713427006       cd      cd      .       .       complete RBBB
204384007       .       cd      .       .       congenital incomplete AV heart block
53741008        .       sttc    .       .       coronary heart disease
251199005       .       .       .       -       counterclockwise cardiac rotation
251198002       .       .       .       hyp     clockwise rotation (CR)
77867006        .       other   .       .       decreased QT interval
82226007        .       cd      .       .       diffuse intraventricular block
428417006       .       other   .       other   early repolarization
251143007       .       other   .       .       ECG artefacts
29320008        .       cd      .       .       ectopic rhythm
423863005       .       sttc    .       .       electrical alternans
164942001       .       .       .       other   fragmented QRS (FQRS)
13640000        .       other   .       -       fusion beats (Chapman: VFW)
84114007        .       other   .       .       heart failure
368009          .       -       .       .       heart valve disorder
251259000       .       sttc    .       .       high T voltage
49260003        .       cd      .       .       idioventricular rhythm
251120003       cd      cd      .       .       incomplete LBBB
713426002       cd      cd      .       .       incomplete RBBB
251200008       other   other   .       .       indeterminate cardiac axis
425419005       sttc    mi      .       .       inferior ischemia
704997005       .       mi      .       .       inferior ST segment depression
50799005        .       other   .       .       isorhythmic dissociation
426995002       .       cd      .       cd      junctional escape
251164006       .       cd      .       cd      junctional premature complex
426648003       .       cd      .       .       junctional tachycardia
445118002       cd      cd      .       .       left anterior fascicular block
253352002       .       hyp     .       .       left atrial abnormality
67741000119109  hyp     hyp     .       .       left atrial enlargement
446813000       .       hyp     .       .       left atrial hypertrophy
39732003        hyp     hyp     .       hyp     left axis deviation
445211001       cd      cd      .       .       left posterior fascicular block
164873001       hyp     hyp     .       hyp     left ventricular hypertrophy
370365005       .       hyp     .       .       left ventricular strain
425623009       sttc    mi      .       .       lateral ischemia
164909002       cd      cd      cd*     cd      LBBB
251146004       other   other   .       cd      low QRS voltages (Chapman: PRWP)
251147008       .       other   .       .       low QRS voltages in the limb leads
251148003       .       other   .       .       low QRS voltages in the precordial leads
55827005        .       .       .       hyp     LVH voltage (LVHV)
164865005       mi      mi      .       mi      myocardial infarction
54016002        .       cd      .       cd      Mobitz I (Wenckebach) AV block
28189009        .       cd      .       .       Mobitz II AV block
713423005       .       cd      .       .       multifocal atrial tachycardia
164861001       sttc    mi      .       .       myocardial ischemia
65778007        cd      other   .       .       nonspecific interatrial conduction block
698252002       cd      other   .       cd      nonspecific intraventricular conduction disorder
428750005       sttc    sttc    .       sttc    nonspecific ST-T abnormality
164867002       .       mi      .       .       old MI
10370003        other   other   .       .       pacing rhythm
251182009       .       other   .       .       paired ventricular premature complexes
282825002       .       afib    .       .       paroxysmal atrial fibrillation
67198005        cd      cd      .       .       paroxysmal supraventricular tachycardia
425856008       .       cd      .       .       paroxysmal ventricular tachycardia
164903001       .       cd      .       .       partial AV block 2:1
284470004       other   other   other   other   premature atrial contraction
164884008       other   other   cd      .       premature ventricular complexes
427172004       .       other   .       .       premature ventricular contractions
164947007       cd      cd      .       cd      prolonged PR interval
111975006       sttc    other   .       other   prolonged QT interval
164912004       .       .       .       cd      P wave change (PWC)
164917005       other   other   .       other   Q wave abnormal
253339007       .       hyp     .       .       right atrial abnormality
446358003       hyp     hyp     .       hyp     right atrial hypertrophy
47665007        hyp     hyp     .       hyp     right axis deviation
89792004        hyp     hyp     .       hyp     right ventricular hypertrophy
164921003       .       hyp     .       .       R wave abnormal
67751000119106  .       .       .       -       right atrial high voltage (RAHV)
314208002       .       afib    .       .       rapid atrial fibrillation
233897008       .       .       .       hyp     RAVC
59118001        .       cd      cd      cd*     RBBB (Chapman: nonspecific BBB)
17366009        .       .       .       cd      SAAWR
49578007        .       cd      .       .       shortened PR interval
427393009       normal  normal  .       .       sinus arrhythmia
426177001       normal  normal  .       normal  sinus bradycardia
60423000        .       cd      .       .       sinus node dysfunction
426783006       normal  normal  normal  normal  sinus rhythm
427084000       normal  normal  .       normal  sinus tachycardia
55930002        sttc    sttc    .       .       ST changes
429622005       sttc    sttc    sttc    sttc    ST depression
164931005       sttc    sttc    sttc    sttc    ST elevation
164930006       .       sttc    .       sttc    ST interval abnormal
251139008       .       other   .       .       suspect arm ECG leads reversed
251168009       .       cd      .       .       supraventricular bigeminy
63593006        cd      cd      .       .       supraventricular premature beats
426761007       cd      cd      .       cd      supraventricular tachycardia
164934002       sttc    sttc    .       sttc    T wave abnormal
59931005        mi      sttc    .       sttc    T wave inversion
251242005       .       other   .       .       tall U wave
266257000       .       other   .       .       transient ischemic attack
164937009       .       other   .       other   U wave abnormal
11157007        other   other   .       other   ventricular bigeminy
17338001        .       cd      .       cd      ventricular ectopic beats
75532003        .       cd      .       cd      ventricular escape beat
81898007        .       cd      .       .       ventricular escape rhythm
164896001       .       cd      .       .       ventricular fibrillation
111288001       .       cd      .       .       ventricular flutter
266249003       hyp     hyp     .       .       ventricular hypertrophy
251266004       .       cd      .       .       ventricular pacing pattern
195060002       .       cd      .       cd      ventricular pre-excitation
164895002       .       cd      .       .       ventricular tachycardia
251180001       other   cd      .       cd      ventricular trigeminy
195101003       .       cd      .       cd      wandering atrial pacemaker
74390002        cd      cd      .       cd      WPW pattern
"""


def _snomed_maps(table: str) -> tuple[dict[str, dict[str, str]], dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(vocabulary -> {code: class}, vocabulary -> codes known but unmapped, vocabulary -> fixed codes)."""
    maps: dict[str, dict[str, str]] = {v: {} for v in SNOMED_VOCABULARIES}
    unmapped: dict[str, list[str]] = {v: [] for v in SNOMED_VOCABULARIES}
    fixed: dict[str, list[str]] = {v: [] for v in SNOMED_VOCABULARIES}
    for line in table.strip().splitlines():
        code, *cells = line.split()[: 1 + len(SNOMED_VOCABULARIES)]
        for vocabulary, cell in zip(SNOMED_VOCABULARIES, cells):
            if cell.endswith("*"):
                fixed[vocabulary].append(code)
                cell = cell[:-1]
            if cell == "-":
                unmapped[vocabulary].append(code)
            elif cell != ".":
                if cell not in HARMONIZED:
                    raise ValueError(f"SNOMED table: {code} has unknown class {cell!r}")
                maps[vocabulary][code] = cell
    return maps, {v: tuple(c) for v, c in unmapped.items()}, {v: tuple(c) for v, c in fixed.items()}


SNOMED_TO_HARMONIZED, SNOMED_KNOWN_UNMAPPED, SNOMED_FIXED = _snomed_maps(_SNOMED_TABLE)

TASKS = (
    Task(
        name="ecg_harmonized",
        type="multilabel",
        classes=HARMONIZED,
        description="CLIMB's 7 harmonized ECG classes, multi-hot; records with no mapped code are masked.",
        source_maps={"ptbxl": PTBXL_SCP_TO_HARMONIZED, **SNOMED_TO_HARMONIZED},
    ),
    Task(
        name="ecg_superclass",
        type="multilabel",
        classes=("NORM", "MI", "STTC", "CD", "HYP"),
        description="PTB-XL diagnostic superclasses from scp_statements.csv diagnostic_class; "
        "records without a diagnostic statement are masked.",
        source_maps={"ptbxl": PTBXL_SCP_TO_SUPERCLASS},
        # Each superclass names the same finding as a harmonized class (datasets.md section 1); CLIMB's
        # harmonized classes are broader (e.g. cd also takes rhythm codes), so zero-shot is approximate.
        zero_shot={"NORM": "ecg_harmonized/normal", "MI": "ecg_harmonized/mi", "STTC": "ecg_harmonized/sttc",
                   "CD": "ecg_harmonized/cd", "HYP": "ecg_harmonized/hyp"},
    ),
)
