"""Hostile raw files through `climb convert`: every one quarantined with a clear reason, the job
finishes, every discovered sample is accounted for, and nothing raw-derived becomes a formula."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from climb.cli import main
from climb.pipelines.sources import source_names
from climb.pipelines.verify import verify
from tests.hostile import generate
from tests.helpers import by_file, quarantine_lines

CORPORA = ("dicom", "nifti", "lndb", "aptos", "chexpert", "video", "ptbxl", "tuab")
FORMULA_START = ("=", "+", "@")
JSON_LD_KEYWORDS = {"@context", "@id", "@json", "@language", "@type", "@vocab"}  # croissant.json's own vocabulary


@pytest.fixture(scope="module")
def key_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("key") / "hmac.key"
    path.write_text("hostile-suite-key-0123456789")
    return path


PEAK_RSS = (
    "import resource, sys; from climb.cli import main; rc = main(sys.argv[1:]); "
    "print(max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))); sys.exit(rc)"
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, key_file):
    """run(name) -> (corpus, exit code, dataset folder, peak RSS MB or None), converting each corpus once.

    The aptos corpus (the PNG decompression bomb) runs in a fresh process whose peak RSS is kept;
    the others run in this one.
    """
    done: dict[str, tuple] = {}

    def run(name: str) -> tuple:
        if name not in done:
            base = tmp_path_factory.mktemp(f"hostile-{name}")
            corpus = getattr(generate, f"write_{name}_corpus")(base / "raw")
            argv = ["convert", corpus.source, str(corpus.root), str(base / "out"), "--hmac-key-file", str(key_file), "--no-progress"]
            if name != "aptos":
                done[name] = (corpus, main(argv), base / "out" / corpus.source, None)
            else:
                proc = subprocess.run([sys.executable, "-c", PEAK_RSS, *argv], capture_output=True, text=True, timeout=120,
                                      env={**os.environ, "PYTHONPATH": os.getcwd()})
                done[name] = (corpus, proc.returncode, base / "out" / corpus.source, int(proc.stdout.split()[-1]) // 1024)
        return done[name]

    return run


@pytest.fixture(scope="module", params=CORPORA)
def converted(request, runs):
    return runs(request.param)


def quarantine(corpus, dataset: Path, key_file: Path) -> dict[str, dict]:
    """raw file (relative to the corpus root) -> its quarantine line, keys resolved as --locate does."""
    return by_file(dataset, corpus.root, key_file.read_bytes().strip())


def json_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from json_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from json_strings(v)


def output_json(dataset: Path):
    """(name, parsed JSON) of every JSON document climb wrote: files, tar members, Zarr metadata."""
    for path in sorted(dataset.rglob("*")):
        if path.suffix in (".json", ".idx"):
            yield str(path.relative_to(dataset)), json.loads(path.read_bytes())
        elif path.suffix == ".jsonl":
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
                yield f"{path.name}:{i}", json.loads(line)
        elif path.suffix == ".tar":
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    if member.name.endswith(".json"):
                        yield f"{path.name}:{member.name}", json.loads(tar.extractfile(member).read())


def test_the_job_finishes_and_every_sample_is_accounted_for(converted):
    corpus, code, dataset, _ = converted
    manifest = json.loads((dataset / "manifest.json").read_text())
    counts = manifest["counts"]
    assert code == 0
    assert counts["discovered"] == counts["written"] + counts["quarantined"] + counts["excluded"]
    assert counts["discovered"] >= corpus.good + len(corpus.cases)
    assert counts["written"] == corpus.good + corpus.count("written")
    assert len(quarantine_lines(dataset)) == counts["quarantined"]


def test_every_hostile_file_is_quarantined_with_a_reason_that_names_the_problem(converted, key_file):
    corpus, _, dataset, _ = converted
    rows = quarantine(corpus, dataset, key_file)
    for case in corpus.cases:
        if case.outcome != "quarantined":
            continue
        row = rows.get(case.path)
        assert row is not None, f"{case.kind} {case.path!r} was not quarantined"
        assert case.reason in row["message"].lower(), f"{case.kind}: {row['message']!r} does not say {case.reason!r}"


def test_the_output_verifies_against_its_manifest(converted):
    _, _, dataset, _ = converted
    assert verify(str(dataset)) == []


def test_no_string_climb_writes_starts_a_spreadsheet_formula(converted):
    _, _, dataset, _ = converted
    for name, document in output_json(dataset):
        formulas = [s for s in json_strings(document) if s.startswith(FORMULA_START) and s not in JSON_LD_KEYWORDS]
        assert not formulas, f"{name} holds {formulas}"


@pytest.mark.parametrize("index", range(3))
def test_an_unusable_label_sheet_stops_the_job_with_one_clear_line(index, tmp_path, key_file, capsys):
    case = generate.sheet_cases(tmp_path / "raw")[index]
    code = main(["convert", case.source, str(case.root), str(tmp_path / "out"), "--hmac-key-file", str(key_file), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and case.reason in err.lower() and "internal error" not in err
    assert not (tmp_path / "out" / case.source / "manifest.json").exists()


def test_decompression_bombs_are_refused_in_bounded_memory(runs, key_file):
    """The 1.5 MB PNG decodes to 2.7 GB (5.2 GB peak, 50 s in cv2 on this machine) if opened."""
    corpus, code, dataset, peak_mb = runs("aptos")
    assert code == 0
    assert "bomb" in quarantine(corpus, dataset, key_file)["train_images/bomb.png"]["message"]
    assert peak_mb < 1500, f"peak RSS {peak_mb} MB"


@pytest.mark.parametrize("source", source_names())
def test_every_source_pointed_at_a_wrong_folder_stops_with_one_clear_line(source, tmp_path, key_file, capfd):
    raw = tmp_path / "raw" / "notes"
    raw.mkdir(parents=True)
    (raw / "readme.txt").write_text("not a dataset\n")
    code = main(["convert", source, str(tmp_path / "raw"), str(tmp_path / "out"), "--hmac-key-file", str(key_file), "--no-progress"])
    err = capfd.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "internal error" not in err, err
