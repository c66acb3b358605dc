"""Planted identifiers (names, birth dates, MRNs, addresses, accession numbers) never leave a
conversion: not in shards, .idx, Zarr, manifest, croissant, quarantine, nor the CLI's output.
Nor do raw folder and file names named after the patient (`VANTERPOOL^OSWIN_MRN40718236/`,
`MRN40718236_chest.dcm`): quarantine.jsonl names samples by key, and `climb inspect --locate`
is the operator's only way back to the file."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from climb.cli import main
from climb.report.phi_scan import scan_dataset
from tests.hostile import generate

SOURCES = ("dicom", "chexpert", "tuab", "ptbxl", "mimic-iv")
WITH_QUARANTINE = ("dicom", "tuab", "ptbxl")  # an identifier-laden file that fails: its message must not leak


@pytest.fixture(scope="module")
def key_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("key") / "hmac.key"
    path.write_text("privacy-suite-key-0123456789")
    return path


def planted(source: str, root: Path) -> list[str]:
    """Write the source's identifier-laden raw tree; return the identifiers that must not leak."""
    if source == "mimic-iv":
        from climb.corpora.ehr import write_mimic_iv_corpus

        return write_mimic_iv_corpus(root)["identifiers"]
    getattr(generate, f"write_phi_{source}_corpus")(root)
    return list(generate.PHI_NEEDLES)


def cli(argv: list[str], capfd) -> tuple[int, str]:
    code = main(argv)
    out, err = capfd.readouterr()
    return code, out + err


@pytest.mark.parametrize("source", SOURCES)
def test_no_planted_identifier_reaches_any_output_or_log(source, tmp_path, key_file, capfd):
    raw, out = tmp_path / "raw", tmp_path / "out"
    identifiers = planted(source, raw)
    assert len(scan_dataset(raw, identifiers)) >= 3, "the raw tree should hold the planted identifiers"
    code, convert_log = cli(["convert", source, str(raw), str(out), "--hmac-key-file", str(key_file)], capfd)
    dataset = out / source
    _, inspect_log = cli(["inspect", str(dataset)], capfd)
    _, verify_log = cli(["verify", str(dataset)], capfd)
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert code == 0 and manifest["counts"]["written"] > 0
    assert manifest["counts"]["quarantined"] > 0 or source not in WITH_QUARANTINE
    findings = scan_dataset(dataset, identifiers, logs={"convert": convert_log, "inspect": inspect_log, "verify": verify_log})
    assert findings == [], "\n".join(map(str, findings))


# every source whose raw layout lets an export choose folder and file names (mimic-iv's tables
# have fixed names); each tree holds a truncated or broken file, so a quarantine message is tested too
NAMED_SOURCES = ("dicom", "nifti", "chexpert", "ptbxl", "tuab")


@pytest.mark.parametrize("source", NAMED_SOURCES)
def test_no_raw_folder_or_file_name_reaches_any_output_or_log(source, tmp_path, key_file, capfd):
    raw, out = tmp_path / "raw", tmp_path / "out"
    getattr(generate, f"write_named_{source}_corpus")(raw)
    assert any(generate.PATIENT_FOLDER in str(p) and generate.MRN in p.name for p in raw.rglob("*")), "names were planted"
    code, convert_log = cli(["convert", source, str(raw), str(out), "--hmac-key-file", str(key_file)], capfd)
    dataset = out / source
    _, inspect_log = cli(["inspect", str(dataset)], capfd)
    _, json_log = cli(["inspect", str(dataset), "--json"], capfd)
    _, verify_log = cli(["verify", str(dataset)], capfd)
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert code == 0 and manifest["counts"]["written"] > 0 and manifest["counts"]["quarantined"] > 0
    logs = {"convert": convert_log, "inspect": inspect_log, "inspect --json": json_log, "verify": verify_log}
    findings = scan_dataset(dataset, generate.NAME_NEEDLES, logs=logs)
    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.parametrize("source", ("dicom", "tuab"))
def test_the_operator_with_the_key_resolves_quarantined_keys_to_the_named_files(source, tmp_path, key_file, capfd):
    raw, out = tmp_path / "raw", tmp_path / "out"
    getattr(generate, f"write_named_{source}_corpus")(raw)
    cli(["convert", source, str(raw), str(out), "--hmac-key-file", str(key_file), "--no-progress"], capfd)
    quarantined = [json.loads(line)["key"] for line in (out / source / "quarantine.jsonl").read_text().splitlines()]
    code, located = cli(["inspect", str(out / source), "--locate", str(raw), "--hmac-key-file", str(key_file)], capfd)
    assert code == 0
    lines = located.splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(quarantined)
    assert all(f"{generate.PATIENT_FOLDER}/{generate.MRN}_" in line for line in lines), located


def test_the_scanner_finds_an_identifier_escaped_inside_a_tar_json_member(tmp_path):
    member = json.dumps({"note": "Zebul\u00f6n", "who": "Quixwright"}, ensure_ascii=True).replace("Quixwright", "Quix\\u0077right")
    with tarfile.open(tmp_path / "train-00000.tar", "w") as tar:
        info = tarfile.TarInfo("abc.json")
        info.size = len(member)
        tar.addfile(info, io.BytesIO(member.encode()))
    assert [f.identifier for f in scan_dataset(tmp_path, ["quixwright", "Zebulön"])] == ["Zebulön", "quixwright"]


def test_the_scanner_reads_logs_and_utf16_files(tmp_path):
    (tmp_path / "notes.bin").write_bytes("MRN88412397".encode("utf-16-le"))
    findings = scan_dataset(tmp_path, ["mrn88412397", "Elmstreet"], logs={"stderr": "failed for 1428 ELMSTREET Lane"})
    assert [(f.where, f.identifier) for f in findings] == [("notes.bin", "mrn88412397"), ("stderr", "Elmstreet")]


def test_a_converted_copy_with_one_leaked_name_is_caught(tmp_path, key_file, capfd):
    raw = generate.write_phi_dicom_corpus(tmp_path / "raw")
    cli(["convert", "dicom", str(raw), str(tmp_path / "out"), "--hmac-key-file", str(key_file)], capfd)
    leaked = tmp_path / "leaked"
    shutil.copytree(tmp_path / "out" / "dicom", leaked)
    manifest = json.loads((leaked / "manifest.json").read_text())
    manifest["config"]["options"]["comment"] = "converted for Zebulon Quixwright"
    (leaked / "manifest.json").write_text(json.dumps(manifest))
    assert {f.where for f in scan_dataset(leaked, generate.PHI_NEEDLES)} == {"manifest.json", "manifest.json (decoded)"}
