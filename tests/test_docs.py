"""The documentation is copy-paste correct: its commands parse, its links resolve, its example source runs."""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest

from climb.cli import COMMANDS, _resolve, build_parser
from climb.pipelines import sources

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def fenced_blocks(markdown: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", markdown, flags=re.M | re.S)


def climb_commands(page: Path) -> list[str]:
    """Every `climb ...` command of the page's bash blocks: continuation lines joined, `&&` chains split."""
    commands = []
    for block in fenced_blocks(page.read_text(encoding="utf-8"), "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                if part.strip().startswith("climb "):
                    commands.append(part.strip())
    return commands


COMMAND_LINES = [(page.relative_to(ROOT).as_posix(), cmd) for page in PAGES for cmd in climb_commands(page)]


def test_the_docs_show_commands_of_every_job():
    shown = {shlex.split(cmd, comments=True)[1] for _, cmd in COMMAND_LINES}
    assert {"demo", "datasets", "convert", "inspect", "preview", "verify", "reproduce", "train", "s3"} <= shown


@pytest.mark.parametrize(("page", "command"), COMMAND_LINES)
def test_each_documented_command_parses_and_names_an_available_command(page, command):
    argv = shlex.split(command, comments=True)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{page}: `{command}` does not parse (exit {exc.code})")
    assert _resolve(COMMANDS[args.command][0]) is not None, f"{page}: `climb {args.command}` is not available"


@pytest.mark.parametrize("page", [p for p in PAGES if p.parent.name == "docs"], ids=lambda p: p.name)
def test_links_between_pages_point_to_existing_files(page):
    for target in re.findall(r"\]\(((?!https?://)[^)#]+)\)", page.read_text(encoding="utf-8")):
        assert (page.parent / target).resolve().exists(), f"{page.name} links to missing {target}"


def test_the_readme_links_every_doc_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in (ROOT / "docs").glob("*.md"):
        assert f"(docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"


def labelled_files(markdown: str) -> dict[str, str]:
    """Python blocks whose first line is `# <relative path>.py`, by that path."""
    files = {}
    for block in fenced_blocks(markdown, "python"):
        first, _, body = block.partition("\n")
        match = re.fullmatch(r"# ([\w/]+\.py)", first.strip())
        if match:
            files[match.group(1)] = body
    return files


def test_the_example_source_and_its_test_run_as_written(tmp_path, monkeypatch):
    files = labelled_files((ROOT / "docs" / "adding-a-source.md").read_text(encoding="utf-8"))
    assert set(files) == {"my_sources/eyepacs.py", "tests/test_eyepacs.py"}
    for rel, body in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sources, "_MODULES", dict(sources._MODULES))  # the page's register() stays in this test
    for name in ("my_sources", "my_sources.eyepacs", "doc_test_eyepacs"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    spec = importlib.util.spec_from_file_location("doc_test_eyepacs", tmp_path / "tests" / "test_eyepacs.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "doc_test_eyepacs", module)
    try:
        spec.loader.exec_module(module)
        tests = [getattr(module, n) for n in dir(module) if n.startswith("test_")]
        assert tests
        for i, test in enumerate(tests):
            run_dir = tmp_path / f"run{i}"
            run_dir.mkdir()
            test(run_dir)
        assert sources.get_source("eyepacs").tasks == ("dr_grade",)
    finally:
        for name in ("my_sources.eyepacs", "my_sources"):
            sys.modules.pop(name, None)
