"""Where each source's data comes from, under which licence, and how to cite it.

A converted dataset inherits its raw source's terms: the dataset card and croissant.json repeat them
from here. A licence is named only where it is the source's published licence for the files climb
reads (PhysioNet's credentialed licence for MIMIC-IV, MIMIC-CXR-JPG, VinDr-CXR and VinDr-Mammo; CC BY
4.0 for PTB-XL and the PhysioNet Challenge 2021 copy of Chapman-Shaoxing; ODC-By for Sleep-EDF).
Every other source has its own agreement or terms of use, or terms climb has not confirmed: its
licence reads "see source" and points at the page that holds them (or at nothing, where climb knows
no home page). Sources that convert a user's own folder (dicom, nifti, video) carry whatever terms
that data has. Every source that ships with climb has an entry (tests/interop/test_provenance.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provenance:
    """A source's published terms.

    Args:
        license: the licence's name, or "see source" when the source has its own agreement/terms.
        license_url: the licence text (or the source's terms page).
        hf_license: the Hugging Face dataset-card licence identifier ("other" for anything but a
            standard open licence).
        url: the source's home page.
        citation: the reference the source asks users to cite, or "see source".
    """

    license: str
    license_url: str
    hf_license: str
    url: str
    citation: str


SEE_SOURCE = "see source"
PHYSIONET_CREDENTIALED = "PhysioNet Credentialed Health Data License 1.5.0"
_PHYSIONET_CREDENTIALED_URL = "https://physionet.org/about/licenses/physionet-credentialed-health-data-license-150/"
_CC_BY_4 = "https://creativecommons.org/licenses/by/4.0/"


# Data whose terms climb cannot know (a user's own folder, plug-in or spec file): those of that data.
USER_DATA = Provenance(SEE_SOURCE, "", "other", "", SEE_SOURCE)


def _credentialed(url: str, citation: str) -> Provenance:
    return Provenance(PHYSIONET_CREDENTIALED, _PHYSIONET_CREDENTIALED_URL, "other", url, citation)


def _see_source(url: str, citation: str = SEE_SOURCE) -> Provenance:
    return Provenance(SEE_SOURCE, url, "other", url, citation)


PROVENANCE: dict[str, Provenance] = {
    "mimic-iv": _credentialed(
        "https://physionet.org/content/mimiciv/",
        "Johnson AEW, Bulgarelli L, Shen L, et al. MIMIC-IV, a freely accessible electronic health record "
        "dataset. Scientific Data 10, 1 (2023).",
    ),
    "mimic-cxr": _credentialed(
        "https://physionet.org/content/mimic-cxr-jpg/",
        "Johnson AEW, Pollard TJ, Greenbaum NR, et al. MIMIC-CXR-JPG, a large publicly available database of "
        "labeled chest radiographs. arXiv:1901.07042 (2019). Johnson AEW, Pollard TJ, Berkowitz SJ, et al. "
        "MIMIC-CXR, a de-identified publicly available database of chest radiographs with free-text reports. "
        "Scientific Data 6, 317 (2019).",
    ),
    "vindr-cxr": _credentialed(
        "https://physionet.org/content/vindr-cxr/",
        "Nguyen HQ, Lam K, Le LT, et al. VinDr-CXR: An open dataset of chest X-rays with radiologist's "
        "annotations. Scientific Data 9, 429 (2022).",
    ),
    "ptbxl": Provenance(
        "CC-BY-4.0", _CC_BY_4, "cc-by-4.0", "https://physionet.org/content/ptb-xl/",
        "Wagner P, Strodthoff N, Bousseljot RD, et al. PTB-XL, a large publicly available electrocardiography "
        "dataset. Scientific Data 7, 154 (2020).",
    ),
    "challenge-ecg": Provenance(
        "CC-BY-4.0", _CC_BY_4, "cc-by-4.0", "https://physionet.org/content/challenge-2021/",
        "Reyna MA, Sadr N, Perez Alday EA, et al. Will Two Do? Varying Dimensions in Electrocardiography: "
        "the PhysioNet/Computing in Cardiology Challenge 2021. Computing in Cardiology 48 (2021).",
    ),
    # climb reads the Challenge 2020/2021 copy (WFDB_ChapmanShaoxing, .mat + .hea), not PhysioNet's
    # larger ecg-arrhythmia database
    "chapman": Provenance(
        "CC-BY-4.0", _CC_BY_4, "cc-by-4.0", "https://physionet.org/content/challenge-2021/",
        "Zheng J, Zhang J, Danioko S, et al. A 12-lead electrocardiogram database for arrhythmia research "
        "covering more than 10,000 patients. Scientific Data 7, 48 (2020).",
    ),
    "sleep-edf": Provenance(
        "ODC-By-1.0", "https://opendatacommons.org/licenses/by/1-0/", "odc-by", "https://physionet.org/content/sleep-edfx/",
        "Kemp B, Zwinderman AH, Tuk B, Kamphuisen HAC, Oberye JJL. Analysis of a sleep-dependent neuronal "
        "feedback loop: the slow-wave microcontinuity of the EEG. IEEE Trans Biomed Eng 47(9), 1185-1194 (2000).",
    ),
    "tuab": _see_source(
        "https://isip.piconepress.com/projects/nedc/html/tuh_eeg/",
        "Obeid I, Picone J. The Temple University Hospital EEG Data Corpus. Frontiers in Neuroscience 10, 196 (2016).",
    ),
    "chexpert": _see_source(
        "https://stanfordmlgroup.github.io/competitions/chexpert/",
        "Irvin J, Rajpurkar P, Ko M, et al. CheXpert: A Large Chest Radiograph Dataset with Uncertainty Labels "
        "and Expert Comparison. AAAI 2019.",
    ),
    "ham10000": _see_source(
        "https://doi.org/10.7910/DVN/DBW86T",
        "Tschandl P, Rosendahl C, Kittler H. The HAM10000 dataset, a large collection of multi-source "
        "dermatoscopic images of common pigmented skin lesions. Scientific Data 5, 180161 (2018).",
    ),
    "aptos": _see_source("https://www.kaggle.com/competitions/aptos2019-blindness-detection"),
    "cbis-ddsm": _see_source(
        "https://www.cancerimagingarchive.net/collection/cbis-ddsm/",
        "Lee RS, Gimenez F, Hoogi A, et al. A curated mammography data set for use in computer-aided detection "
        "and diagnosis research. Scientific Data 4, 170177 (2017).",
    ),
    "kits": _see_source("https://kits-challenge.org/kits23/"),
    "lndb": _see_source(
        "https://lndb.grand-challenge.org/",
        "Pedrosa J, Aresta G, Ferreira C, et al. LNDb: A Lung Nodule Database on Computed Tomography. "
        "arXiv:1911.08434 (2019).",
    ),
    "rspect": _see_source(
        "https://www.rsna.org/rsnai/ai-image-challenge/rsna-pe-detection-challenge-2020",
        "Colak E, Kitamura FC, Hobbs SB, et al. The RSNA Pulmonary Embolism CT Dataset. Radiology: Artificial "
        "Intelligence 3(2), e200254 (2021).",
    ),
    "echonet": _see_source(
        "https://echonet.github.io/dynamic/",
        "Ouyang D, He B, Ghorbani A, et al. Video-based AI for beat-to-beat assessment of cardiac function. "
        "Nature 580, 252-256 (2020).",
    ),
    "connectome": _see_source(
        "https://fcon_1000.projects.nitrc.org/indi/abide/",
        "Di Martino A, Yan CG, Li Q, et al. The autism brain imaging data exchange: towards a large-scale "
        "evaluation of the intrinsic brain architecture in autism. Molecular Psychiatry 19, 659-667 (2014).",
    ),
    "molecules": _see_source(
        "https://moleculenet.org/",
        "Wu Z, Ramsundar B, Feinberg EN, et al. MoleculeNet: a benchmark for molecular machine learning. "
        "Chemical Science 9, 513-530 (2018).",
    ),
    "tuev": _see_source(
        "https://isip.piconepress.com/projects/nedc/html/tuh_eeg/",
        "Obeid I, Picone J. The Temple University Hospital EEG Data Corpus. Frontiers in Neuroscience 10, 196 (2016).",
    ),
    "isruc": _see_source(
        "https://sleeptight.isr.uc.pt/",
        "Khalighi S, Sousa T, Santos JM, Nunes U. ISRUC-Sleep: A comprehensive public dataset for sleep "
        "researchers. Computer Methods and Programs in Biomedicine 124, 180-192 (2016).",
    ),
    "shhs": _see_source(
        "https://sleepdata.org/datasets/shhs",
        "Quan SF, Howard BV, Iber C, et al. The Sleep Heart Health Study: design, rationale, and methods. "
        "Sleep 20(12), 1077-1085 (1997).",
    ),
    **{
        name: _see_source(
            "https://braingb.us/",
            "Cui H, Dai W, Zhu Y, et al. BrainGB: A Benchmark for Brain Network Analysis with Graph Neural "
            "Networks. IEEE Transactions on Medical Imaging 42(2), 493-506 (2023).",
        )
        for name in ("braingb-abide", "braingb-abcd", "braingb-ppmi")
    },
    "vindr-mammo": _credentialed(
        "https://physionet.org/content/vindr-mammo/",
        "Nguyen HT, Nguyen HQ, Pham HH, et al. VinDr-Mammo: A large-scale benchmark dataset for computer-aided "
        "diagnosis in full-field digital mammography. Scientific Data 10, 277 (2023).",
    ),
    "cmmd": _see_source(
        "https://www.cancerimagingarchive.net/collection/cmmd/",
        "Cui C, Li L, Cai H, et al. The Chinese Mammography Database (CMMD): An online mammography database with "
        "biopsy confirmed types for machine diagnosis of breast. The Cancer Imaging Archive (2021). "
        "https://doi.org/10.7937/tcia.eqde-4b16",
    ),
    "cholec80": _see_source(
        "http://camma.u-strasbg.fr/datasets",
        "Twinanda AP, Shehata S, Mutter D, et al. EndoNet: A Deep Architecture for Recognition Tasks on "
        "Laparoscopic Videos. IEEE Transactions on Medical Imaging 36(1), 86-97 (2017).",
    ),
    "inspect": _see_source(
        "https://github.com/som-shahlab/INSPECT_public",
        "Huang SC, Huo Z, Steinberg E, et al. INSPECT: A Multimodal Dataset for Pulmonary Embolism Diagnosis and "
        "Prognosis. NeurIPS 2023 Datasets and Benchmarks.",
    ),
    "proteins": _see_source(
        "https://chrsmrrs.github.io/datasets/",
        "Borgwardt KM, Ong CS, Schoenauer S, et al. Protein function prediction via graph kernels. "
        "Bioinformatics 21(suppl 1), i47-i56 (2005). Morris C, Kriege NM, Bause F, et al. TUDataset: A collection "
        "of benchmark datasets for learning with graphs. arXiv:2007.08663 (2020).",
    ),
    "ogbg-ppa": _see_source(
        "https://ogb.stanford.edu/docs/graphprop/#ogbg-ppa",
        "Hu W, Fey M, Zitnik M, et al. Open Graph Benchmark: Datasets for Machine Learning on Graphs. "
        "NeurIPS 2020.",
    ),
    # spec sources (pipelines/sources/specs/*.yaml)
    "brain-mri": _see_source("https://www.kaggle.com/datasets/navoneel/brain-mri-images-for-brain-tumor-detection"),
    "brain-tumor-mri": _see_source("https://www.kaggle.com/datasets/masoudnickparvar/brain-tumor-mri-dataset"),
    "brixia": _see_source(
        "https://brixia.github.io/",
        "Signoroni A, Savardi M, Benini S, et al. BS-Net: Learning COVID-19 pneumonia severity on a large chest "
        "X-ray dataset. Medical Image Analysis 71, 102046 (2021).",
    ),
    "busi": _see_source(
        "https://scholar.cu.edu.eg/?q=afahmy/pages/dataset",
        "Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. Dataset of breast ultrasound images. Data in Brief 28, "
        "104863 (2020).",
    ),
    "chestx-ray8": _see_source(
        "https://nihcc.app.box.com/v/ChestXray-NIHCC",
        "Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM. ChestX-ray8: Hospital-scale Chest X-ray Database and "
        "Benchmarks on Weakly-Supervised Classification and Localization of Common Thorax Diseases. CVPR 2017.",
    ),
    "coronahack": _see_source("https://www.kaggle.com/datasets/praveengovi/coronahack-chest-xraydataset"),
    "covid-blues": _see_source("https://github.com/NinaWie/COVID-BLUES"),
    "covid-us": _see_source(
        "https://github.com/nrc-cnrc/COVID-US",
        "Ebadi A, Xi P, MacLean A, et al. COVIDx-US: An Open-Access Benchmark Dataset of Ultrasound Imaging Data "
        "for AI-Driven COVID-19 Analytics. Frontiers in Bioscience-Landmark 27(7), 198 (2022).",
    ),
    # CLIMB's "COVID-19" class-folder set names no origin climb could confirm
    "covid19-cxr": USER_DATA,
    "ct-ich": _see_source(
        "https://physionet.org/content/ct-ich/",
        "Hssayeni MD, Croock MS, Salman AD, Al-khafaji HF, Yahya ZA, Ghoraani B. Intracranial Hemorrhage "
        "Segmentation Using a Deep Convolutional Model. Data 5(1), 14 (2020).",
    ),
    "isic2019": _see_source(
        "https://challenge.isic-archive.com/data/",
        "Combalia M, Codella NCF, Rotemberg V, et al. BCN20000: Dermoscopic Lesions in the Wild. arXiv:1908.02288 "
        "(2019). Tschandl P, Rosendahl C, Kittler H. The HAM10000 dataset. Scientific Data 5, 180161 (2018).",
    ),
    "isic2020": _see_source(
        "https://challenge2020.isic-archive.com/",
        "Rotemberg V, Kurtansky N, Betz-Stablein B, et al. A patient-centric dataset of images and metadata for "
        "identifying melanomas using clinical context. Scientific Data 8, 34 (2021).",
    ),
    "jichi": _see_source(
        "https://doi.org/10.1371/journal.pone.0179790",
        "Takahashi H, Tampo H, Arai Y, Inoue Y, Kawashima H. Applying artificial intelligence to disease staging: "
        "Deep learning for improved staging of diabetic retinopathy. PLoS ONE 12(6), e0179790 (2017).",
    ),
    "lc25000": _see_source(
        "https://github.com/tampapath/lung_colon_image_set",
        "Borkowski AA, Bui MM, Thomas LB, Wilson CP, DeLand LA, Mastorides SM. Lung and Colon Cancer "
        "Histopathological Image Dataset (LC25000). arXiv:1912.12142 (2019).",
    ),
    "messidor-2": _see_source(
        "https://www.adcis.net/en/third-party/messidor2/",
        "Decenciere E, Zhang X, Cazuguel G, et al. Feedback on a publicly distributed image database: the "
        "Messidor database. Image Analysis & Stereology 33(3), 231-234 (2014).",
    ),
    "pad-ufes-20": _see_source(
        "https://data.mendeley.com/datasets/zr7vgbcyr2/1",
        "Pacheco AGC, Lima GR, Salomao AS, et al. PAD-UFES-20: A skin lesion dataset composed of patient data and "
        "clinical images collected from smartphones. Data in Brief 32, 106221 (2020).",
    ),
    # folders of the user's own files
    **{name: USER_DATA for name in ("dicom", "nifti", "video")},
}


def provenance(source: str) -> Provenance:
    """The published terms of a registered source; a plug-in or a user's own spec file gets USER_DATA."""
    return PROVENANCE.get(source, USER_DATA)
