"""Where each source's data comes from, under which licence, and how to cite it.

A converted dataset inherits its raw source's terms: the dataset card and croissant.json repeat them
from here. A licence is named only where it is the source's published licence for its files
(PhysioNet's credentialed licence for MIMIC and VinDr-CXR; CC BY 4.0 for PTB-XL, the PhysioNet
Challenge 2021 and Chapman-Shaoxing on PhysioNet; ODC-By for Sleep-EDF). Every other source has its
own agreement or terms of use: its licence reads "see source" and points at the page that holds them.
Sources that convert a user's own folder (dicom, nifti, video) carry whatever terms that data has.
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
        "Johnson AEW, Pollard TJ, Berkowitz SJ, et al. MIMIC-CXR, a de-identified publicly available database "
        "of chest radiographs with free-text reports. Scientific Data 6, 317 (2019).",
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
    "chapman": Provenance(
        "CC-BY-4.0", _CC_BY_4, "cc-by-4.0", "https://physionet.org/content/ecg-arrhythmia/",
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
    "vindr-mammo": _see_source(
        "https://physionet.org/content/vindr-mammo/",
        "Nguyen HT, Nguyen HQ, Pham HH, et al. VinDr-Mammo: A large-scale benchmark dataset for computer-aided "
        "diagnosis in full-field digital mammography. Scientific Data 10, 277 (2023).",
    ),
    "cmmd": _see_source("https://www.cancerimagingarchive.net/collection/cmmd/"),
    "cholec80": _see_source(
        "http://camma.u-strasbg.fr/datasets",
        "Twinanda AP, Shehata S, Mutter D, et al. EndoNet: A Deep Architecture for Recognition Tasks on "
        "Laparoscopic Videos. IEEE Transactions on Medical Imaging 36(1), 86-97 (2017).",
    ),
}

# Folders of the user's own files: the terms are those of that data, which climb cannot know.
USER_DATA = Provenance(SEE_SOURCE, "", "other", "", SEE_SOURCE)


def provenance(source: str) -> Provenance:
    """The published terms of a registered source; a folder source or plug-in gets USER_DATA."""
    return PROVENANCE.get(source, USER_DATA)
